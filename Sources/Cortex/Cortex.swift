@_exported import CortexCore

@_exported import CortexCore
@_exported import CortexNN

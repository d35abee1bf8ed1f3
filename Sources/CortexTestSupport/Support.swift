import CortexCore

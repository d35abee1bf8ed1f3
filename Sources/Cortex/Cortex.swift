@_exported import CortexCore
@_exported import CortexNN
@_exported import CortexData
@_exported import CortexTrain
@_exported import CortexModels
@_exported import CortexText
@_exported import CortexDistributed
@_exported import CortexExplain

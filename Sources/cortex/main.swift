import CortexCLI

CortexCommand.main()

import ArgumentParser

/// The `cortex` command-line tool.
@main
struct CortexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cortex",
        abstract: "Build, train and run neural networks with Cortex.",
        subcommands: [Quickstart.self, Train.self, Evaluate.self, Predict.self])
}

import ArgumentParser

/// The `cortex` command-line tool. The executable target only calls `CortexCommand.main()`;
/// the commands live in this library so tests can parse and run them.
public struct CortexCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "cortex",
        abstract: "Build, train and run neural networks with Cortex.",
        subcommands: [Quickstart.self, Train.self, Evaluate.self, Predict.self, Download.self, Tokenize.self, ChatTemplateCommand.self, Sample.self, Generate.self, Embed.self,
                      Similarity.self, DistributedCheck.self, Serve.self, Quantize.self, PerplexityCommand.self, FineTune.self, Merge.self, Prune.self, Distill.self,
                      Explain.self, FairnessCommand.self, PrivacyCommand.self])
}

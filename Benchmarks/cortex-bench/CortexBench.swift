import ArgumentParser

/// `cortex-bench <suite> [--json]`: each suite prints a table of Cortex's figures beside
/// PyTorch's (measured in the same run when CORTEX_TORCH_PYTHON names a Python with torch).
@main
struct CortexBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cortex-bench",
        abstract: "Cortex benchmarks, side by side with PyTorch.",
        subcommands: [CoreSuite.self, TrainSuite.self, TextSuite.self, GPT2Suite.self, PretrainedSuite.self, QuantizedSuite.self, CompressSuite.self, PrivacySuite.self, ComputeSuite.self, SequenceSuite.self, DistributedSuite.self, ServeSuite.self, ServeMemorySuite.self, FineTuneSuite.self])
}

struct BenchmarkOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per row instead of a table.")
    var json = false

    @Option(help: "Repetitions per row (the median is reported).")
    var repetitions = 15

    @Option(help: "Only the rows whose names contain this text (for profiling one row).")
    var only: String?

    func includes(_ row: String) -> Bool { only.map { row.contains($0) } ?? true }
}

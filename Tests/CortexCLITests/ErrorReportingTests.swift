import ArgumentParser
import CortexCore
import CortexModels
import CortexTestSupport
import Foundation
import Testing
@testable import CortexCLI

/// What a user sees when something is wrong. A runtime failure (a bad file, a missing model)
/// is one `Error: ...` line naming the value, with no usage text, and exit status 1. A usage
/// error (a bad option) keeps ArgumentParser's usage text and exit status 64.
@Suite struct ErrorReportingTests {
    let directory: String = temporaryDirectory("cortex-errors")

    enum Kind { case runtime, usage }

    struct Report {
        let status: Int32
        let message: String
    }

    /// Parses and runs `arguments` in this process, and returns what `cortex` would print and
    /// its exit status.
    func report(_ arguments: [String]) -> Report? {
        do {
            var command = try CortexCommand.parseAsRoot(arguments)
            try command.run()
            return nil
        } catch {
            return Report(status: CortexCommand.exitCode(for: error).rawValue, message: CortexCommand.fullMessage(for: error))
        }
    }

    func expect(_ arguments: [String], _ kind: Kind, mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let report = report(arguments) else {
            Issue.record("\(arguments) should have failed", sourceLocation: sourceLocation)
            return
        }
        switch kind {
        case .runtime:
            #expect(report.status == 1, "\(arguments): status \(report.status)", sourceLocation: sourceLocation)
            #expect(report.message.hasPrefix("Error: ") && !report.message.contains("Usage:") && !report.message.contains("\n"),
                    "\(arguments): \"\(report.message)\" should be one Error: line without usage", sourceLocation: sourceLocation)
        case .usage:
            #expect(report.status == 64, "\(arguments): status \(report.status)", sourceLocation: sourceLocation)
            #expect(report.message.contains("Usage:"), "\(arguments): \"\(report.message)\" should show the usage", sourceLocation: sourceLocation)
        }
        for fragment in fragments {
            #expect(report.message.contains(fragment), "\(arguments): \"\(report.message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = directory + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func runtimeFailuresAreOneLineAndUsageErrorsShowUsage() throws {
        // 1. generate: a truncated GGUF file.
        let gguf = try Data(contentsOf: URL(fileURLWithPath: Launcher.packageRoot() + "/Tests/CortexModelsTests/Fixtures/gpt2-gguf/gpt2-tiny-q8_0.gguf"))
        let truncated = directory + "/truncated.gguf"
        try gguf.prefix(900).write(to: URL(fileURLWithPath: truncated))
        expect(["generate", "--model", truncated, "--prompt", "Hello"], .runtime, mentions: [truncated])
        // 2. generate: a model that is not there.
        expect(["generate", "--model", directory + "/absent-model", "--prompt", "Hello"], .runtime, mentions: ["absent-model"])
        // 3. generate: a bad option value is a usage error.
        expect(["generate", "--model", truncated, "--prompt", "Hello", "--temperature=-1"], .usage, mentions: ["temperature", "-1"])
        // 4. embed: a BERT directory whose config.json is not JSON.
        let bert = directory + "/bert"
        _ = try write("{\"hidden_size\": 384,", to: "bert/config.json")
        expect(["embed", "--model", bert, "a sentence"], .runtime, mentions: [bert + "/config.json"])
        // 5. embed: a model that is not there.
        expect(["embed", "--model", directory + "/no-such-model", "a sentence"], .runtime, mentions: ["no-such-model"])
        // 6. train: a data directory that is not there.
        expect(["train", "mnist-mlp", "--data-dir", directory + "/no-data", "--epochs", "1"], .runtime, mentions: [directory + "/no-data"])
        // 7. train: an unknown recipe and a bad count are usage errors.
        expect(["train", "resnet-9000"], .usage, mentions: ["resnet-9000"])
        expect(["train", "mnist-mlp", "--epochs", "0"], .usage, mentions: ["--epochs", "0"])
        // 8. train: resuming from a checkpoint with no manifest (a partial save).
        let partial = directory + "/partial"
        _ = try write("{}", to: "partial/trainer.json")
        let data = try CompressionCommandTests().writeDataset(train: 64, test: 16)
        expect(["train", "mnist-mlp", "--data-dir", data, "--epochs", "1", "--resume", partial], .runtime, mentions: [partial, "partial"])
        // 9. evaluate: a checkpoint of another architecture, and one that is not there.
        try FileManager.default.createDirectory(atPath: directory + "/mlp", withIntermediateDirectories: true)
        try Classifiers.mnistMLP(generator: RandomGenerator(seed: 1)).save(to: directory + "/mlp/model.safetensors")
        expect(["evaluate", "mnist-cnn", "--checkpoint", directory + "/mlp", "--data-dir", data], .runtime, mentions: ["missing keys"])
        expect(["evaluate", "mnist-mlp", "--checkpoint", directory + "/missing", "--data-dir", data], .runtime, mentions: [directory + "/missing"])
        // 10. tokenize: a merges file with a broken line, and a tokenizer that is not there.
        _ = try write("{\"a\": 0, \"b\": 1, \"ab\": 2}", to: "tokenizer/vocab.json")
        _ = try write("#version: 0.2\na b\nabc\n", to: "tokenizer/merges.txt")
        let text = try write("ab", to: "text.txt")
        expect(["tokenize", "--tokenizer", directory + "/tokenizer", text], .runtime, mentions: ["merges.txt", "line 3"])
        expect(["tokenize", "--tokenizer", directory + "/no-tokenizer", text], .runtime, mentions: ["no-tokenizer"])
        expect(["tokenize", text], .usage, mentions: ["--tokenizer"])
    }

    /// The same two kinds through the real binary: its exit status and what reaches stderr.
    @Test func theBinaryExitsWithOneOrSixtyFour() throws {
        guard let cortex = Launcher.builtProduct("cortex") else {
            print("skipping: the cortex binary is not built beside the tests")
            return
        }
        let gguf = try Data(contentsOf: URL(fileURLWithPath: Launcher.packageRoot() + "/Tests/CortexModelsTests/Fixtures/gpt2-gguf/gpt2-tiny-q8_0.gguf"))
        let truncated = directory + "/truncated-binary.gguf"
        try gguf.prefix(900).write(to: URL(fileURLWithPath: truncated))
        let runtime = try Launcher.run([cortex, "generate", "--model", truncated, "--prompt", "Hello"], timeout: 60)
        #expect(runtime.status == 1)
        let lines = runtime.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("Error: ") && lines[0].contains(truncated), "\(runtime.output)")
        let usage = try Launcher.run([cortex, "generate", "--prompt", "Hello"], timeout: 60)
        #expect(usage.status == 64)
        #expect(usage.output.contains("Usage:") && usage.output.contains("--model"), "\(usage.output)")
    }
}

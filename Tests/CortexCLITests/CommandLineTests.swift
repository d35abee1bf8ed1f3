import ArgumentParser
import Foundation
import Testing
import CortexTestSupport
import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexText
@testable import CortexCLI

/// The `cortex` commands, parsed and run in-process: bad options are refused with a message
/// naming the value, and `predict` agrees with the model it loads.
@Suite struct CommandLineTests {
    let directory: String = temporaryDirectory("cortex-cli")

    /// The message ArgumentParser would print for `arguments`, or nil when they parse and run.
    func failure(_ arguments: [String]) -> String? {
        do {
            var command = try CortexCommand.parseAsRoot(arguments)
            try command.run()
            return nil
        } catch {
            return CortexCommand.message(for: error)
        }
    }

    func expectFailure(_ arguments: [String], mentions fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let message = failure(arguments) else {
            Issue.record("\(arguments) should have failed", sourceLocation: sourceLocation)
            return
        }
        for fragment in fragments {
            #expect(message.contains(fragment), "\(arguments): \"\(message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    }

    /// `cortex chat-template`: a template file's prompt, with tools; a broken template's line
    /// and column; a conversation the template refuses, in its own words.
    @Test func chatTemplatePrintsTheRenderedPrompt() throws {
        let template = directory + "/chat.jinja", messages = directory + "/messages.json", tools = directory + "/tools.json"
        try """
            {%- if tools %}Tools: {{ tools | map(attribute='name') | join(', ') }}
            {% endif %}
            {%- for m in messages %}{% if m.role == 'user' and loop.index0 % 2 == 1 %}{{ raise_exception('roles must alternate') }}{% endif %}
            <{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>
            {% endfor %}
            {%- if add_generation_prompt %}<assistant>{% endif %}
            """.write(toFile: template, atomically: true, encoding: .utf8)
        try #"[{"role": "user", "content": " Hi "}, {"role": "assistant", "content": "Hello"}]"#.write(toFile: messages, atomically: true, encoding: .utf8)
        try #"[{"name": "search"}, {"name": "weather"}]"#.write(toFile: tools, atomically: true, encoding: .utf8)
        let prompt = try ChatTemplateCommand.prompt(model: template, messages: messages, tools: tools, addGenerationPrompt: true)
        #expect(prompt == "Tools: search, weather\n<user>Hi</user>\n<assistant>Hello</assistant>\n<assistant>")
        #expect(failure(["chat-template", "--model", template, "--messages", messages]) == nil)
        try #"[{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]"#.write(toFile: messages, atomically: true, encoding: .utf8)
        expectFailure(["chat-template", "--model", template, "--messages", messages], mentions: ["roles must alternate"])
        try "ok\n{% for m in messages %}".write(toFile: template, atomically: true, encoding: .utf8)
        expectFailure(["chat-template", "--model", template, "--messages", messages], mentions: ["line 2", "endfor"])
        try "{{ messages | length }}".write(toFile: template, atomically: true, encoding: .utf8)
        try "[1, ".write(toFile: messages, atomically: true, encoding: .utf8)
        expectFailure(["chat-template", "--model", template, "--messages", messages], mentions: ["messages.json"])
    }

    /// `cortex tokenize --tokenizer` takes GGUF files too (llama.cpp's vocabulary-only ones here).
    @Test func tokenizeReadsGGUFFiles() throws {
        let suite = PretrainedDirectory.root + "/llama-cpp-suite/models"
        guard FileManager.default.fileExists(atPath: suite + "/ggml-vocab-llama-spm.gguf") else {
            print("skipping tokenize on GGUF files: \(suite) is missing (bash Tools/fetch-pretrained.sh fetches it)")
            return
        }
        #expect(try Tokenize.load(suite + "/ggml-vocab-llama-spm.gguf").encode("Hello world") == [15043, 3186])
        #expect(try Tokenize.load(suite + "/ggml-vocab-gpt-2.gguf").encode("Hello world") == [15496, 995])
        #expect(try Tokenize.load(suite + "/ggml-vocab-gemma-4.gguf").encode("Hello world\n\n") == [9259, 1902, 108])
        #expect(try Tokenize.load(suite + "/ggml-vocab-nomic-bert-moe.gguf").encode("Hello world") == [35378, 8999])
        // A tokenizer model Cortex does not implement is refused by its name.
        var writer = GGUFWriter()
        writer.set("tokenizer.ggml.model", .string("rwkv"))
        let unknown = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-rwkv-\(UUID().uuidString).gguf").path
        try writer.write(to: unknown)
        defer { try? FileManager.default.removeItem(atPath: unknown) }
        expectFailure(["tokenize", "--tokenizer", unknown], mentions: ["\"rwkv\"", "not supported"])
    }

    @Test func badTrainingOptionsAreRefusedByName() {
        expectFailure(["train", "mnist-mlp", "--epochs", "0"], mentions: ["--epochs", "0"])
        expectFailure(["train", "mnist-mlp", "--epochs", "three"], mentions: ["three"])
        expectFailure(["train", "mnist-mlp", "--batch-size=-4"], mentions: ["--batch-size", "-4"])
        expectFailure(["train", "resnet-9000"], mentions: ["resnet-9000", "mnist-cnn"])
        expectFailure(["train", "xor", "--optimizer", "nadam"], mentions: ["nadam", "adamw"])
        expectFailure(["train", "xor", "--lr=-0.5"], mentions: ["--lr", "-0.5"])
        expectFailure(["train", "xor", "--lr", "nan"], mentions: ["--lr", "nan"])
        expectFailure(["train", "mnist-mlp", "--data-dir", directory + "/absent"], mentions: [directory + "/absent", "does not exist"])
        expectFailure(["train", "xor", "--no-such-flag"], mentions: ["--no-such-flag"])
    }

    @Test func badEvaluateAndPredictOptionsAreRefusedByName() throws {
        expectFailure(["evaluate", "lstm", "--checkpoint", directory], mentions: ["lstm"])
        expectFailure(["evaluate", "mnist-mlp", "--checkpoint", directory + "/missing"], mentions: [directory + "/missing/model.safetensors"])
        expectFailure(["predict", "mnist-mlp"], mentions: ["--checkpoint"])
        try Classifiers.mnistMLP(generator: RandomGenerator(seed: 1)).save(to: directory + "/model.safetensors")
        // A checkpoint of another architecture names the mismatching keys.
        expectFailure(["predict", "mnist-cnn", "--checkpoint", directory, "--images", try writeImages(count: 1)], mentions: ["missing keys", "3.weight"])
        let images = try writeImages(count: 3)
        expectFailure(["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "0,x"], mentions: ["\"x\""])
        expectFailure(["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "7"], mentions: ["7"])
        expectFailure(["download", "imagenet"], mentions: ["imagenet", "cifar10"])
    }

    @Test func predictMatchesTheSavedModel() throws {
        let model = Classifiers.mnistMLP(generator: RandomGenerator(seed: 2))
        try model.save(to: directory + "/model.safetensors")
        let images = try writeImages(count: 4)
        let command = try #require(try CortexCommand.parseAsRoot(
            ["predict", "mnist-mlp", "--checkpoint", directory, "--images", images, "--indices", "3,1"]) as? Predict)
        let predictions = try command.predictions()
        let inputs = try IDX.read(images).unsqueeze(1)
        let expected = try withNoGrad { try model(inputs).softmax(axis: -1) }.toFloatArray()
        #expect(predictions.map(\.index) == [3, 1])
        for prediction in predictions {
            let row = Array(expected[(prediction.index * 10)..<(prediction.index * 10 + 10)])
            #expect(prediction.predictedClass == row.indices.max { row[$0] < row[$1] }!)
            #expect(Swift.abs(prediction.probability - row.max()!) < 1e-6)
        }
    }

    /// `cortex quantize --to int8` on a recipe checkpoint: an int8 model.safetensors a quarter the
    /// size, which predict loads in int8 and which agrees with the float model's classes.
    @Test func quantizeWritesAnInt8RecipeCheckpoint() throws {
        let model = Classifiers.mnistCNN(generator: RandomGenerator(seed: 4))
        try model.save(to: directory + "/model.safetensors")
        let output = directory + "/int8"
        var command = try CortexCommand.parseAsRoot(["quantize", "--model", directory, "--recipe", "mnist-cnn", "--to", "int8", "--out", output, "--json"])
        try command.run()
        let float = try FileManager.default.attributesOfItem(atPath: directory + "/model.safetensors")[.size] as! Int
        let int8 = try FileManager.default.attributesOfItem(atPath: output + "/model.safetensors")[.size] as! Int
        #expect(int8 * 3 < float)
        #expect(Int8Quantization.isInt8Checkpoint(output + "/model.safetensors"))
        let images = try writeImages(count: 8)
        let indices = "0,1,2,3,4,5,6,7"
        func classes(_ checkpoint: String) throws -> [Int] {
            try #require(try CortexCommand.parseAsRoot(["predict", "mnist-cnn", "--checkpoint", checkpoint, "--images", images, "--indices", indices])
                as? Predict).predictions().map(\.predictedClass)
        }
        #expect(try classes(output) == classes(directory))
        expectFailure(["quantize", "--model", directory, "--recipe", "lstm", "--to", "int8", "--out", output], mentions: ["--recipe", "lstm"])
        expectFailure(["quantize", "--model", directory, "--recipe", "mnist-cnn", "--to", "int8", "--out", directory], mentions: ["checkpoint directory itself"])
        expectFailure(["quantize", "--model", directory, "--to", "int8", "--out", output], mentions: ["--recipe"])
        expectFailure(["quantize", "--model", directory, "--recipe", "mnist-cnn", "--to", "q8_0", "--out", output], mentions: ["--recipe"])
        expectFailure(["evaluate", "mnist-cnn", "--checkpoint", directory, "--int8", "fast"], mentions: ["--int8", "fast"])
    }

    @Test func xorTrainsFromTheCommandLine() throws {
        var command = try CortexCommand.parseAsRoot(["train", "xor", "--epochs", "4", "--out", directory + "/xor", "--json"])
        try command.run()
        #expect(FileManager.default.fileExists(atPath: directory + "/xor/model.safetensors"))
    }

    /// The cifar-cnn recipe end to end on CIFAR-10-format batch files (four random records per
    /// file: the real files cannot be fetched here, the format and the network are the same).
    @Test func cifarRecipeRunsOnBatchFiles() throws {
        let data = directory + "/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var state: UInt32 = 7
        for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
            var bytes: [UInt8] = []
            for record in 0..<4 {
                bytes.append(UInt8(record % 10))
                for _ in 0..<3072 {
                    state = state &* 1_664_525 &+ 1_013_904_223
                    bytes.append(UInt8(truncatingIfNeeded: state >> 24))
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: data + "/" + name))
        }
        var command = try CortexCommand.parseAsRoot(["train", "cifar-cnn", "--epochs", "1", "--batch-size", "8", "--data-dir", data,
                                                     "--out", directory + "/cifar", "--json"])
        try command.run()
        #expect(FileManager.default.fileExists(atPath: directory + "/cifar/model.safetensors"))
        // A truncated batch file names itself.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: data + "/data_batch_3.bin"))
        expectFailure(["train", "cifar-cnn", "--epochs", "1", "--data-dir", data], mentions: [data + "/data_batch_3.bin", "3073-byte"])
    }

    /// A small corpus in the tinyshakespeare layout.
    func writeCorpus() throws -> String {
        let data = directory + "/tinyshakespeare"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let lines = ["First Citizen:", "Before we proceed any further, hear me speak.", "", "All:", "Speak, speak.", "",
                     "First Citizen:", "You are all resolved rather to die than to famish?", ""]
        try String(repeating: lines.joined(separator: "\n") + "\n", count: 12).write(toFile: data + "/input.txt", atomically: true, encoding: .utf8)
        return data
    }

    @Test func charGPTTrainsSavesAndSamples() throws {
        let data = try writeCorpus()
        var train = try CortexCommand.parseAsRoot(["train", "char-gpt", "--data-dir", data, "--layers", "1", "--heads", "2", "--width", "16",
                                                   "--context", "16", "--iterations", "3", "--eval-interval", "2", "--batch-size", "2",
                                                   "--out", directory + "/gpt", "--json"])
        try train.run()
        for file in ["model.safetensors", "config.json", "characters.json", "loss.csv"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/gpt/" + file), "\(file)")
        }
        let (model, tokenizer) = try Sample.load(directory + "/gpt")
        let generated = try model.generate(prompt: tokenizer.encode("Sp"), maxNewTokens: 5, sampling: SamplingOptions(temperature: 0))
        #expect(generated.count == 7)
        var sample = try CortexCommand.parseAsRoot(["sample", "--checkpoint", directory + "/gpt", "--prompt", "All", "--max-new-tokens", "4"])
        try sample.run()
        expectFailure(["sample", "--checkpoint", directory + "/gpt", "--temperature=-1"], mentions: ["--temperature", "-1"])
        expectFailure(["sample", "--checkpoint", directory + "/absent"], mentions: [directory + "/absent/config.json"])
        expectFailure(["train", "char-gpt", "--width", "10", "--heads", "3", "--data-dir", data], mentions: ["--width 10", "--heads 3"])
        expectFailure(["train", "char-gpt", "--dropout", "1.5"], mentions: ["--dropout", "1.5"])
        // Mixed precision: the same run with bfloat16 products trains and saves; an unknown precision is refused by name.
        var mixed = try CortexCommand.parseAsRoot(["train", "char-gpt", "--data-dir", data, "--layers", "1", "--heads", "2", "--width", "16",
                                                   "--context", "16", "--iterations", "3", "--eval-interval", "2", "--batch-size", "2",
                                                   "--precision", "bf16", "--out", directory + "/gpt-bf16", "--json"])
        try mixed.run()
        #expect(FileManager.default.fileExists(atPath: directory + "/gpt-bf16/model.safetensors"))
        expectFailure(["train", "char-gpt", "--precision", "fp8", "--data-dir", data], mentions: ["fp8", "f32 or bf16"])
        expectFailure(["evaluate", "mnist-mlp", "--checkpoint", directory, "--precision", "half"], mentions: ["half", "f32 or bf16"])
    }

    @Test func lstmLanguageModelReportsPerplexity() throws {
        let data = try writeCorpus()
        var train = try CortexCommand.parseAsRoot(["train", "lstm-lm", "--data-dir", data, "--epochs", "1", "--batch-size", "2", "--json"])
        try train.run()
    }

    @Test func tokenizeCommandReadsAFile() throws {
        let data = try writeCorpus()
        let tokenizer = directory + "/tokenizer"
        try BPETrainer.train(corpus: String(contentsOfFile: data + "/input.txt", encoding: .utf8), vocabularySize: 280).save(directory: tokenizer)
        var command = try CortexCommand.parseAsRoot(["tokenize", "--tokenizer", tokenizer, "--json", data + "/input.txt"])
        try command.run()
        expectFailure(["tokenize", "--tokenizer", directory + "/nothing", data + "/input.txt"], mentions: [directory + "/nothing"])
        expectFailure(["tokenize", "--tokenizer", tokenizer, directory + "/missing.txt"], mentions: [directory + "/missing.txt"])
    }

    /// The 4-layer random GPT-2 fixture (vocabulary 300) with a BPE tokenizer of 300 tokens.
    func makeGPT2Directory() throws -> String {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CortexModelsTests/Fixtures/gpt2-4layer").path
        let model = directory + "/gpt2"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(atPath: fixture + "/" + file, toPath: model + "/" + file) }
        let corpus = try String(contentsOfFile: writeCorpus() + "/input.txt", encoding: .utf8)
        try BPETrainer.train(corpus: corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>"], minimumFrequency: 1).save(directory: model)
        return model
    }

    @Test func fineTuningKeepsFrozenWeightsAndSavesAHuggingFaceCheckpoint() throws {
        let model = try makeGPT2Directory()
        var command = try CortexCommand.parseAsRoot(["train", "gpt2-finetune", "--model", model, "--text", directory + "/tinyshakespeare/input.txt",
                                                     "--iterations", "3", "--batch-size", "2", "--context", "16", "--freeze-embeddings",
                                                     "--freeze-blocks", "1", "--lr", "1e-2", "--out", directory + "/tuned", "--json"])
        try command.run()
        let original = try GPT.load(directory: model), tuned = try GPT.load(directory: directory + "/tuned")
        let before = Dictionary(uniqueKeysWithValues: original.namedParameters()), after = Dictionary(uniqueKeysWithValues: tuned.namedParameters())
        for key in ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight"] {
            #expect(try before[key]!.toFloatArray() == after[key]!.toFloatArray(), "\(key) is frozen")
        }
        #expect(try before["transformer.h.1.attn.c_attn.weight"]!.toFloatArray() != after["transformer.h.1.attn.c_attn.weight"]!.toFloatArray())
        #expect(FileManager.default.fileExists(atPath: directory + "/tuned/vocab.json") && FileManager.default.fileExists(atPath: directory + "/tuned/merges.txt"))
        expectFailure(["train", "gpt2-finetune", "--model", model], mentions: ["--text"])
        expectFailure(["train", "gpt2-finetune", "--model", model, "--text", directory + "/missing.txt"], mentions: [directory + "/missing.txt"])
    }

    @Test func textGeneratorAPI() throws {
        let generator = try TextGenerator.load(try makeGPT2Directory())
        var streamed = ""
        let text = try generator("First Citizen", maxNewTokens: 8, sampling: SamplingOptions(temperature: 0), onText: { streamed += $0 })
        #expect(text.hasPrefix("First Citizen") && text == "First Citizen" + streamed)
        let several = try generator(["First Citizen", "All"], maxNewTokens: 8, sampling: SamplingOptions(temperature: 0))
        #expect(several[0] == text && several[1].hasPrefix("All"))
    }

    @Test func generateContinuesAPromptWithAGPT2Checkpoint() throws {
        let model = try makeGPT2Directory()
        var command = try CortexCommand.parseAsRoot(["generate", "--model", model, "--prompt", "First Citizen", "--max-new-tokens", "6",
                                                     "--temperature", "0", "--json"])
        try command.run()
        var sampled = try CortexCommand.parseAsRoot(["generate", "--model", model, "--prompt", "All:", "--max-new-tokens", "4",
                                                     "--top-k", "20", "--top-p", "0.9", "--repetition-penalty", "1.2", "--stop", "e"])
        try sampled.run()
        expectFailure(["generate", "--model", model, "--prompt", "x", "--top-p", "1.5"], mentions: ["top-p", "1.5"])
        expectFailure(["generate", "--model", model, "--prompt", "x", "--temperature=-2"], mentions: ["temperature", "-2"])
        expectFailure(["generate", "--model", model, "--prompt", String(repeating: "Speak, speak. ", count: 40)], mentions: ["the context holds 64"])
        expectFailure(["generate", "--model", directory + "/no-such-model", "--prompt", "x"], mentions: ["no-such-model"])
    }

    /// `cortex quantize` writes a GGUF file that loads as the same generator (the tokenizer
    /// with it), `cortex perplexity` reads it, and bad targets, ragged rows and writing over
    /// the input are refused by name.
    @Test func quantizeWritesAGGUFThatGeneratesAsTheCheckpointDoes() throws {
        let model = try makeGPT2Directory()
        let output = directory + "/gpt2.Q8_0.gguf"
        var command = try CortexCommand.parseAsRoot(["quantize", "--model", model, "--to", "q8_0", "--out", output, "--json"])
        try command.run()
        let original = try TextGenerator.load(model), quantized = try TextGenerator.load(output)
        let prompt = try original.tokenizer.encode("First Citizen")
        #expect(try quantized.tokenizer.encode("First Citizen: speak") == original.tokenizer.encode("First Citizen: speak"))
        let greedy = SamplingOptions(temperature: 0)
        let want = try original.continuation(of: prompt, maxNewTokens: 6, sampling: greedy).tokens
        let got = try QuantizedMatrix.$activations.withValue(.float) { try quantized.continuation(of: prompt, maxNewTokens: 6, sampling: greedy).tokens }
        #expect(got.count == want.count)
        // In F32 the file computes what the checkpoint computes: the same greedy tokens.
        var dense = try CortexCommand.parseAsRoot(["quantize", "--model", model, "--to", "f32", "--out", directory + "/gpt2.F32.gguf"])
        try dense.run()
        #expect(try TextGenerator.load(directory + "/gpt2.F32.gguf").continuation(of: prompt, maxNewTokens: 6, sampling: greedy).tokens == want)
        var perplexity = try CortexCommand.parseAsRoot(["perplexity", "--model", output, "--text", writeCorpus() + "/input.txt", "--context", "32",
                                                        "--max-windows", "2", "--json"])
        try perplexity.run()
        expectFailure(["quantize", "--model", model, "--to", "q3_k", "--out", directory + "/x.gguf"], mentions: ["--to", "q3_k"])
        expectFailure(["quantize", "--model", model, "--to", "q4_k", "--fallback", "none", "--out", directory + "/x.gguf"],
                      mentions: ["token_embd.weight", "256"])
        expectFailure(["quantize", "--model", output, "--to", "q4_0", "--out", output], mentions: ["refusing to write over the input file"])
        expectFailure(["perplexity", "--model", output, "--text", directory + "/missing.txt"], mentions: [directory + "/missing.txt"])
    }

    @Test func downloadRefusesFilesThatFailTheirChecksum() throws {
        // A mirror holding files of the right names but the wrong contents.
        let mirror = directory + "/mirror"
        try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true)
        for file in RemoteDataset.mnist.files { try "not mnist".write(toFile: mirror + "/" + file.fileName, atomically: true, encoding: .utf8) }
        expectFailure(["download", "mnist", "--data-dir", directory + "/data", "--mirror", "file://" + mirror],
                      mentions: ["SHA-256 mismatch", RemoteDataset.mnist.files[0].sha256, "train-images-idx3-ubyte.gz"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/data/mnist").isEmpty)
    }

    /// An IDX file of `count` random 28x28 byte images.
    func writeImages(count: Int) throws -> String {
        var bytes: [UInt8] = [0, 0, 8, 3]
        for dimension in [count, 28, 28] { bytes += withUnsafeBytes(of: UInt32(dimension).bigEndian, Array.init) }
        var state: UInt32 = 12345
        for _ in 0..<(count * 784) {
            state = state &* 1_664_525 &+ 1_013_904_223
            bytes.append(UInt8(truncatingIfNeeded: state >> 24))
        }
        let path = directory + "/images-\(count).idx"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `cortex embed`, `similarity` and `generate --chat` on the fetched pretrained models (the
    /// outputs themselves are checked against transformers in CortexModelsTests); bad input is
    /// refused by name.
    @Test func pretrainedModelCommands() throws {
        expectFailure(["embed", "--model", directory + "/no-such-model", "a sentence"], mentions: ["no-such-model"])
        expectFailure(["embed", "--model", "x", "--batch-size", "0", "a"], mentions: ["--batch-size", "0"])
        expectFailure(["generate", "--model", directory + "/missing.gguf", "--prompt", "Hi"], mentions: ["missing.gguf"])
        if PretrainedModels.miniLM != nil {
            #expect(failure(["embed", "--model", "all-minilm-l6-v2", "--json", "A cat.", "Un chat."]) == nil)
            #expect(failure(["similarity", "--model", "all-minilm-l6-v2", "A cat.", "A dog.", "Stocks fell."]) == nil)
            expectFailure(["similarity", "--model", "all-minilm-l6-v2", "alone"], mentions: ["at least two"])
        } else {
            print("skipping MiniLM commands: " + PretrainedModels.missing("all-MiniLM-L6-v2"))
        }
        if let gguf = PretrainedModels.smolLM2 {
            #expect(failure(["generate", "--model", gguf, "--chat", "--prompt", "Say hi.", "--max-new-tokens", "4", "--temperature", "0"]) == nil)
            #expect(failure(["generate", "--model", "smollm2", "--prompt", "Hi", "--max-new-tokens", "3", "--top-p", "0.9", "--json"]) == nil)
            let reply = try TextGenerator.load(gguf: gguf).reply(to: "What is the capital of France?", maxNewTokens: 12)
            #expect(reply.contains("Paris"), "\(reply)")
        } else {
            print("skipping SmolLM2 commands: " + PretrainedModels.missing("SmolLM2-135M-Instruct.Q4_1.gguf"))
        }
    }
}

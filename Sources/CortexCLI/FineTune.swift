import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexText
import Foundation

/// `cortex finetune`: LoRA on a GPT-2 or Llama-family model (a GGUF file, quantised or not, or
/// a checkpoint directory), from plain text or chat conversations; writes the adapter in PEFT's
/// format.
struct FineTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Train a LoRA adapter (PEFT's format) on a GPT-2 or Llama-family model from text or chat conversations.",
        discussion: """
            The base stays frozen; only the adapter's A and B matrices train (Hu et al. 2021). A quantised GGUF base keeps its \
            blocks (QLoRA-style: gradients pass through the dequantised products). --text trains on windows of --context tokens \
            from the first 90% of the file and reports the perplexity of the last 10% before and after; --chat-jsonl trains on \
            {"messages": [...]} lines rendered by the model's chat template, with the loss on the assistant's turns only, and \
            reports the loss of every tenth conversation, held out. The adapter (adapter_model.safetensors, adapter_config.json) \
            and finetune.json (the figures) go to --out; `cortex generate --adapter` and `cortex merge` read it, and so does \
            PEFT's PeftModel.from_pretrained.
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "A text file to train on (causal language modelling).") var text: String?
    @Option(name: .customLong("chat-jsonl"), help: "JSON lines of {\"messages\": [{\"role\", \"content\"}, ...]}.") var chatJSONL: String?
    @Option(name: .customLong("lora-rank"), help: "The adapter's rank r.") var rank = 8
    @Option(name: .customLong("lora-alpha"), help: "The adapter's alpha (the update is scaled by alpha / r).") var alpha: Double = 16
    @Option(name: .customLong("lora-dropout"), help: "Dropout on the adapter's input.") var dropout: Float = 0
    @Option(help: "Modules to adapt, comma-separated (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; c_attn,c_proj,c_fc for GPT-2).")
    var targets = "q_proj,v_proj"
    @Option(help: "Passes over the training data.") var epochs: Double = 1
    @Option(help: "Stop after this many steps (overrides --epochs).") var iterations: Int?
    @Option(help: "Stop after this many minutes.") var minutes: Double?
    @Option(help: "Peak learning rate (AdamW, linear decay to 0, as transformers' Trainer).") var lr: Float = 2e-4
    @Option(name: .customLong("batch-size"), help: "Sequences per step.") var batchSize = 4
    @Option(help: "Tokens per training window (text) or at most per conversation (chat).") var context = 256
    @Option(name: .customLong("eval-tokens"), help: "Held-out tokens scored for perplexity (text), at most.") var evaluationTokens = 16_384
    @Option(name: .customLong("log-every"), help: "Print the training loss every N steps.") var logEvery = 10
    @Option(help: "Seed for the adapter's initialisation and the batches.") var seed: UInt64 = 0
    @Option(help: "The adapter directory to write.") var out: String
    @Flag(help: "Print one JSON object with the figures at the end.") var json = false

    var targetModules: [String] { targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard (text == nil) != (chatJSONL == nil) else { throw ValidationError("give one of --text and --chat-jsonl") }
        guard rank > 0 else { throw ValidationError("--lora-rank must be positive, got \(rank)") }
        guard alpha > 0, alpha.isFinite else { throw ValidationError("--lora-alpha must be positive, got \(alpha)") }
        guard dropout >= 0, dropout < 1 else { throw ValidationError("--lora-dropout must be in [0, 1), got \(dropout)") }
        guard !targetModules.isEmpty else { throw ValidationError("--targets names no module") }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let iterations, iterations <= 0 { throw ValidationError("--iterations must be positive, got \(iterations)") }
        if let minutes, minutes <= 0 { throw ValidationError("--minutes must be positive, got \(minutes)") }
        guard lr > 0 else { throw ValidationError("--lr must be positive, got \(lr)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard context >= 2 else { throw ValidationError("--context must be at least 2, got \(context)") }
        guard evaluationTokens >= 2 else { throw ValidationError("--eval-tokens must be at least 2, got \(evaluationTokens)") }
        guard logEvery > 0 else { throw ValidationError("--log-every must be positive, got \(logEvery)") }
    }

    /// What a run measured; written to finetune.json and printed with --json.
    struct Report: Codable {
        var model: String
        var trainableParameters: Int
        var allParameters: Int
        var trainablePercent: Double
        var steps: Int
        var trainedTokens: Int
        var seconds: Double
        var tokensPerSecond: Double
        var peakMemoryMegabytes: Double
        var baseFileMegabytes: Double
        var heldOutPerplexityBefore: Double?
        var heldOutPerplexityAfter: Double?
        var heldOutLossBefore: Double?
        var heldOutLossAfter: Double?
    }

    func run() throws {
        // Training computes the quantised products on float activations (exact gradients).
        let report = try QuantizedMatrix.$activations.withValue(.float) { try train() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }

    func train() throws -> Report {
        let generator = try TextGenerator.load(model)
        let network: Module = generator.model
        let (basePath, isFile) = TextGenerator.location(model)
        let configuration = try LoRAConfiguration(rank: rank, alpha: alpha, dropout: dropout, targetModules: targetModules,
                                                  baseModelNameOrPath: basePath)
        let random = RandomGenerator(seed: seed)
        let adapter = try LoRAAdapter.apply(to: network, configuration: configuration, generator: random)
        let trainable = adapter.parameterCount
        let all = adapter.baseParameterCount + trainable
        let percent = 100 * Double(trainable) / Double(max(all, 1))
        let length = min(context, generator.model.contextLength)
        if !json {
            print(String(format: "trainable params: %d || all params: %d || trainable%%: %.4f", trainable, all, percent))
            print("adapted: \(adapter.layers.count) layers (\(targetModules.joined(separator: ", "))), r=\(rank), alpha=\(alpha)")
        }
        var data = try TrainingData(text: text, chat: chatJSONL, generator: generator, length: length)
        let stepsPerEpoch = max(1, data.trainingTokens / (batchSize * length))
        let total = iterations ?? max(1, Int((epochs * Double(data.kind == .text ? stepsPerEpoch : data.chatBatches(batchSize))).rounded()))
        func heldOut() throws -> (perplexity: Double?, loss: Double?) {
            network.eval()
            defer { network.train() }
            return try data.evaluate(generator.model, context: length, tokens: evaluationTokens)
        }
        let before = try heldOut()
        if !json { data.describe(before, label: "before", total: total) }
        let parameters = adapter.parameters()
        let optimizer = AdamW(parameters, learningRate: lr, weightDecay: 0)
        let start = Date()
        var step = 0, tokens = 0
        network.train()
        while step < total {
            if let minutes, Date().timeIntervalSince(start) >= minutes * 60 { break }
            optimizer.learningRates = [lr * Float(total - step) / Float(total)]
            let (inputs, targets) = try data.batch(step: step, batchSize: batchSize, length: length, generator: random)
            optimizer.zeroGrad()
            let logits = try generator.model(inputs)
            let loss = try Loss.crossEntropy(logits.reshape([-1, generator.model.vocabularySize]), targets: targets.reshape([-1]))
            try loss.backward()
            _ = try GradientClipping.clipNorm(parameters, maxNorm: 1)
            try optimizer.step()
            step += 1
            tokens += inputs.count
            if !json, step % logEvery == 0 || step == total {
                let seconds = Date().timeIntervalSince(start)
                print(String(format: "step %d/%d  loss %.4f  %.0f tokens/s", step, total, try loss.item(), Double(tokens) / seconds))
                fflush(nil)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let after = try heldOut()
        if !json { data.describe(after, label: "after", total: nil) }
        let baseBytes = isFile ? ModelQuantization.fileBytes(basePath)
            : ModelQuantization.fileBytes((try GPT.checkpointDirectory(basePath) as NSString).appendingPathComponent("model.safetensors"))
        let report = Report(model: basePath, trainableParameters: trainable, allParameters: all, trainablePercent: percent, steps: step,
                            trainedTokens: tokens, seconds: seconds, tokensPerSecond: Double(tokens) / max(seconds, 1e-9),
                            peakMemoryMegabytes: Self.peakResidentMegabytes(), baseFileMegabytes: Double(baseBytes) / 1e6,
                            heldOutPerplexityBefore: before.perplexity, heldOutPerplexityAfter: after.perplexity,
                            heldOutLossBefore: before.loss, heldOutLossAfter: after.loss)
        try adapter.save(to: out)
        try AtomicFile.writeJSON(report, to: out + "/finetune.json")
        if !json {
            print(String(format: "%d steps, %d tokens in %.1f s: %.1f tokens/s; peak memory %.0f MB (base file %.0f MB)", step, tokens, seconds,
                         report.tokensPerSecond, report.peakMemoryMegabytes, report.baseFileMegabytes))
            print("adapter written to \(out)")
        }
        return report
    }

    /// The process's peak resident memory so far.
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) * 1024 / 1e6
    }
}

/// The training and held-out data of a fine-tuning run.
struct TrainingData {
    enum Kind { case text, chat }
    let kind: Kind
    private var training = TokenSequence([])
    private var validation: [Int] = []
    private var conversations: [(ids: [Int], targets: [Int])] = []
    private var heldOutConversations: [(ids: [Int], targets: [Int])] = []
    private var order: [Int] = []

    init(text: String?, chat: String?, generator: TextGenerator, length: Int) throws {
        let vocabulary = generator.model.vocabularySize
        func checked(_ ids: [Int], _ path: String) throws -> [Int] {
            if let outside = ids.first(where: { $0 >= vocabulary }) {
                throw CortexError.invalidArgument(operation: "cortex finetune",
                                                  reason: "token \(outside) of the tokenizer (\(path)) is outside the model's vocabulary of \(vocabulary)")
            }
            return ids
        }
        if let text {
            kind = .text
            guard let contents = try? String(contentsOfFile: text, encoding: .utf8) else {
                throw CortexError.io(path: text, reason: "cannot be read as UTF-8 text")
            }
            let ids = try checked(generator.tokenizer.encode(contents), text)
            let (first, last) = TokenSequence(ids).split(trainingFraction: 0.9)
            guard first.count > length + 1, last.count >= 2 else {
                throw CortexError.invalidArgument(operation: "cortex finetune", reason: "\(text) gives \(ids.count) tokens: too few for windows of \(length)")
            }
            training = first
            validation = Array(ids[(ids.count - last.count)...])
        } else if let chat {
            kind = .chat
            guard let template = generator.chatTemplate else {
                throw CortexError.invalidArgument(operation: "cortex finetune", reason: "the model declares no chat template Cortex can render, so --chat-jsonl cannot be used")
            }
            for (index, messages) in try ChatConversations.readJSONLines(chat).enumerated() {
                var example = try template.trainingExample(messages, tokenizer: generator.tokenizer)
                _ = try checked(example.ids, chat)
                example.ids = Array(example.ids.prefix(length))
                example.targets = Array(example.targets.prefix(length))
                guard example.targets.contains(where: { $0 >= 0 }) else { continue }
                if index % 10 == 9 { heldOutConversations.append(example) } else { conversations.append(example) }
            }
            guard !conversations.isEmpty else {
                throw CortexError.invalidFile(path: chat, reason: "no conversation keeps an assistant token within \(length) tokens")
            }
        } else {
            throw CortexError.invalidArgument(operation: "cortex finetune", reason: "no training data")
        }
    }

    var trainingTokens: Int { kind == .text ? training.count : conversations.reduce(0) { $0 + $1.ids.count } }

    func chatBatches(_ batchSize: Int) -> Int { (conversations.count + batchSize - 1) / batchSize }

    /// Step `step`'s batch: random windows of the text, or the next conversations of a seeded
    /// shuffle (padded at the end; padding is never learned).
    mutating func batch(step: Int, batchSize: Int, length: Int, generator: RandomGenerator) throws -> (inputs: Tensor, targets: Tensor) {
        switch kind {
        case .text:
            return try training.randomBatch(batchSize: batchSize, length: length, generator: generator)
        case .chat:
            var picked: [(ids: [Int], targets: [Int])] = []
            for _ in 0..<min(batchSize, conversations.count) {
                if order.isEmpty {
                    order = Array(0..<conversations.count)
                    for index in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(index, generator.integer(below: index + 1)) }
                }
                picked.append(conversations[order.removeLast()])
            }
            let longest = picked.map(\.ids.count).max() ?? 1
            var ids: [Int] = [], targets: [Int] = []
            for example in picked {
                ids += example.ids + [Int](repeating: 0, count: longest - example.ids.count)
                targets += example.targets + [Int](repeating: -100, count: longest - example.ids.count)
            }
            return (try Tensor(integers: ids, shape: [picked.count, longest]), try Tensor(integers: targets, shape: [picked.count, longest]))
        }
    }

    /// Held-out perplexity (text) or mean loss on the assistants' tokens (chat).
    func evaluate(_ model: any CausalLanguageModel, context: Int, tokens: Int) throws -> (perplexity: Double?, loss: Double?) {
        switch kind {
        case .text:
            let scored = Array(validation.prefix(max(tokens, 2)))
            let window = min(context, scored.count)
            let result = try Perplexity.evaluate(model, tokens: scored, context: window)
            return (result.perplexity, result.meanNegativeLogLikelihood)
        case .chat:
            guard !heldOutConversations.isEmpty else { return (nil, nil) }
            var total = 0.0, count = 0
            try withNoGrad {
                for example in heldOutConversations {
                    let logits = try model(Tensor(integers: example.ids, shape: [1, example.ids.count]))
                    let learned = example.targets.filter { $0 >= 0 }.count
                    let loss = try Loss.crossEntropy(logits.reshape([-1, model.vocabularySize]),
                                                     targets: Tensor(integers: example.targets, shape: [example.targets.count]))
                    total += Double(try loss.item()) * Double(learned)
                    count += learned
                }
            }
            return (nil, total / Double(max(count, 1)))
        }
    }

    func describe(_ figures: (perplexity: Double?, loss: Double?), label: String, total: Int?) {
        var line = "held-out \(label) training:"
        if let perplexity = figures.perplexity { line += String(format: " perplexity %.3f", perplexity) }
        if let loss = figures.loss { line += String(format: " loss %.4f", loss) }
        if figures.perplexity == nil && figures.loss == nil { line += " (no conversation held out)" }
        switch kind {
        case .text: line += " (\(validation.count) held-out tokens)"
        case .chat: line += " (\(heldOutConversations.count) held-out conversations)"
        }
        if let total { line += "; \(trainingTokens) training tokens, \(total) steps" }
        print(line)
    }
}

/// `cortex merge`: a model with a LoRA adapter folded into its weights, written as GGUF.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold a LoRA adapter into a GPT-2 or Llama-family model and write the result as a GGUF file.",
        discussion: """
            The merged model computes what the model with the adapter computes (quantised projections that were adapted are \
            dequantised first). --to picks the GGUF format of the matrices (default f32, exact); llama.cpp, transformers \
            (gguf_file=) and Cortex read the file.
            """)

    @Option(help: "GGUF file, checkpoint directory, or model name.") var model: String
    @Option(help: "The adapter directory (Cortex's or PEFT's).") var adapter: String
    @Option(help: "The GGUF file to write.") var out: String
    @Option(help: "GGUF format of the matrices: f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k.") var to = "f32"

    func validate() throws { _ = try Quantize.format(to, option: "--to") }

    func run() throws {
        var layers = 0
        let report = try ModelQuantization.run(model: model, format: try Quantize.format(to, option: "--to"), output: out) { network in
            let loaded = try LoRAAdapter.load(directory: adapter, into: network)
            layers = loaded.layers.count
            try loaded.merge()
        }
        print("merged \(layers) adapted layers of \(report.source) into \(report.output) (\(report.format), \(report.tensors) tensors, "
              + String(format: "%.1f MB)", Double(report.outputBytes) / 1e6))
    }
}

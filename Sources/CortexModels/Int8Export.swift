import CortexCore
import CortexNN
import Foundation

extension SentenceEmbedder {
    /// Quantises the encoder's Linear layers to int8 (``Int8Quantization``), as PyTorch's
    /// `quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)` does. With `calibration`
    /// sentences the activation ranges are observed on them first and fixed (static).
    @discardableResult
    public func quantizeInt8(calibration sentences: [String]? = nil, batchSize: Int = 32) throws -> Int8Quantization.Report {
        try Int8Quantization.quantize(model, calibration: sentences.map { sentences in { _ = try self.embed(sentences, batchSize: batchSize) } })
    }
}

extension ModelQuantization {

    /// Weight files a model directory may hold besides model.safetensors; the int8 directory
    /// leaves them out, since it replaces them.
    static let weightFileExtensions: Set<String> = ["safetensors", "bin", "onnx", "h5", "msgpack", "ot", "gguf", "pt", "pth"]

    /// `cortex quantize --to int8` for a BERT or sentence-transformers directory (or a name such
    /// as all-minilm-l6-v2): the same directory at `output`, written atomically, with
    /// model.safetensors in int8 (``Int8Quantization/save(_:to:)``) and every other file
    /// (config, tokenizer, pooling) copied. Cortex loads it back through ``BERT/load(directory:)``.
    public static func runInt8(bert nameOrPath: String, output: String) throws -> ModelQuantization {
        let directory = PretrainedModels.path(named: nameOrPath) ?? nameOrPath
        let source = URL(fileURLWithPath: directory).standardizedFileURL, target = URL(fileURLWithPath: output).standardizedFileURL
        let config = TextGenerator.jsonObject(source.appendingPathComponent("config.json").path)
        guard let config, config["model_type"] as? String == "bert" || config["num_attention_heads"] != nil && config["n_embd"] == nil
                && !["llama", "gpt2", "mistral", "qwen2"].contains(config["model_type"] as? String ?? "") else {
            throw CortexError.invalidArgument(operation: "quantize", reason: config == nil
                ? "\(nameOrPath) has no config.json: give --recipe for a recipe checkpoint, or a BERT directory"
                : "int8 is for BERT and recipe models; GPT-2 and Llama-family models take q8_0 (llama.cpp's 8-bit format) or another GGUF format")
        }
        guard source.path != target.path, !target.path.hasPrefix(source.path + "/") else {
            throw CortexError.invalidArgument(operation: "quantize", reason: "--out \(output) would write into the model directory \(directory)")
        }
        let model = try BERT.load(directory: directory)
        let report = try Int8Quantization.quantize(model)
        let manager = FileManager.default
        let weights = source.appendingPathComponent("model.safetensors").path
        try AtomicDirectory.write(to: target.path) { staging in
            let entries = (manager.enumerator(atPath: source.path)?.allObjects as? [String]) ?? []
            for entry in entries.sorted() {
                let from = source.appendingPathComponent(entry).path, to = (staging as NSString).appendingPathComponent(entry)
                var isDirectory: ObjCBool = false
                guard manager.fileExists(atPath: from, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    try manager.createDirectory(atPath: to, withIntermediateDirectories: true)
                } else if !weightFileExtensions.contains((entry as NSString).pathExtension.lowercased()) && !entry.hasPrefix(".") {
                    try manager.copyItem(atPath: from, toPath: to)
                }
            }
            try Int8Quantization.save(model, to: (staging as NSString).appendingPathComponent("model.safetensors"))
        }
        return ModelQuantization(source: directory, output: target.path, architecture: "bert", format: "int8", sourceBytes: fileBytes(weights),
                                 outputBytes: fileBytes(target.appendingPathComponent("model.safetensors").path),
                                 tensors: model.stateDict().count, fellBack: [], fallback: nil,
                                 int8Layers: report.quantized.count)
    }
}

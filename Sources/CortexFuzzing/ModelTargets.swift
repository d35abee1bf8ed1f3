import CortexCore
import CortexModels
import CortexNN
import CortexText
import Foundation

extension FuzzTarget {
    static let modelTargets: [FuzzTarget] = [gguf, gpt2Configuration, llamaConfiguration, bertConfiguration]

    static let gguf = FuzzTarget("gguf", "a GGUF file: metadata, tensor table, blocks; then its tokenizer and model", seeds: { sources in
        var seeds: [[UInt8]] = []
        if let bytes = sources.fixture("CortexModelsTests/Fixtures/gpt2-gguf/gpt2-tiny-q8_0.gguf") { seeds.append(bytes) }
        // SmolLM2's own metadata (its architecture, chat template and special ids) over a
        // vocabulary and tensor table cut small, written by Cortex's GGUF writer.
        if let file = try? GGUF.load(sources.smolLM2) {
            var writer = GGUFWriter()
            for key in file.keys where !key.hasPrefix("tokenizer.ggml.") { if let value = file.metadata[key] { writer.set(key, value) } }
            if let tokens = try? file.strings("tokenizer.ggml.tokens") {
                writer.set("tokenizer.ggml.model", .string("gpt2"))
                writer.set("tokenizer.ggml.tokens", .array(tokens.prefix(300).map { .string($0) }))
                writer.set("tokenizer.ggml.merges", .array([.string("Ġ t"), .string("h e")]))
            }
            for info in file.tensors.prefix(2) where info.shape.reduce(1, *) <= 1 << 16 {
                try? writer.add(info.name, tensor: try file.tensor(info.name), as: .f32)
            }
            let path = try FuzzWorkspace.shared.file("seed.gguf", [])
            try writer.write(to: path)
            if let bytes = sources.bytes(path) { seeds.append(bytes) }
        }
        return seeds
    }, body: { workspace, bytes in
        let path = try workspace.file("input.gguf", bytes)
        let file = try GGUF.load(path)
        for key in file.keys { _ = file.metadata[key] }
        for info in file.tensors where info.shape.reduce(1, { $0.multipliedReportingOverflow(by: max($1, 0)).partialValue }) <= readableElements {
            try attempt { _ = try file.tensor(info.name).toFloatArray() }
        }
        try attempt { try exercise(try ByteLevelBPETokenizer.load(gguf: file)) }
        // The whole model only where its tensors are small: a mutated hyperparameter must be
        // refused, not allocated.
        if file.tensors.reduce(0, { $0 + $1.byteCount }) <= 1 << 22 {
            try attempt { _ = try TextGenerator.load(gguf: path) }
        }
    })

    static let gpt2Configuration = FuzzTarget("gpt2-config", "a GPT-2 config.json (transformers' GPT2Config)", seeds: { sources in
        ["CortexModelsTests/Fixtures/gpt2-4layer/config.json", "CortexModelsTests/Fixtures/gpt2-2layer-f16/config.json"].compactMap { sources.fixture($0) }
    }, body: { workspace, bytes in
        let configuration = try GPTConfiguration.load(path: try workspace.file("config.json", bytes))
        _ = configuration.embeddingSize / configuration.heads
    })

    static let llamaConfiguration = FuzzTarget("llama-config", "a Llama config.json (transformers' LlamaConfig, rope scaling)", seeds: { sources in
        ["CortexModelsTests/Fixtures/llama-2layer/config.json"].compactMap { sources.fixture($0) }
            + [Array(#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000, "rope_scaling": null, "tie_word_embeddings": true}"#.utf8)]
    }, body: { workspace, bytes in
        let c = try LlamaConfiguration.load(path: try workspace.file("config.json", bytes))
        // The rotary tables the model would build, where they are small enough to make here.
        if c.contextLength <= 1 << 14 && c.headSize <= 1 << 10 {
            _ = try RotaryEmbedding(dimension: c.headSize, maximumPositions: c.contextLength, theta: c.ropeTheta, scaling: c.ropeScaling)
        }
    })

    static let bertConfiguration = FuzzTarget("bert-config", "a BERT config.json (transformers' BertConfig)", seeds: { sources in
        [sources.bytes(sources.miniLM + "/config.json")].compactMap { $0 }
            + [Array(#"{"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#.utf8)]
    }, body: { workspace, bytes in
        let c = try BERTConfiguration.load(path: try workspace.file("config.json", bytes))
        _ = c.hiddenSize / c.heads
    })
}

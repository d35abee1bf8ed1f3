import CortexCore
import Foundation

/// A compact save of a pruned model whose size follows its sparsity: each float tensor with
/// enough zeros is stored as a bitmask (one bit per entry, set where nonzero, least significant
/// bit first) and its nonzero values, the rest as they are. Masks are folded in first (a
/// pruned `weight` is saved as `weight`, its masked value). The file is safetensors:
/// `<name>.bitmask` (I8 bytes) and `<name>.values` (F32) per sparse tensor, with its shape
/// in the metadata as `<name>.shape`.
///
/// ```swift
/// try Pruning.globalUnstructured(Pruning.weights(of: model), amount: 0.92)
/// let bytes = try SparseCheckpoint.save(model, to: "lenet-sparse.safetensors")
/// try SparseCheckpoint.load(into: fresh, from: "lenet-sparse.safetensors", keepingMasks: true)
/// ```
public enum SparseCheckpoint {
    static let format = "cortex-sparse-bitmask"

    /// The model's state as the layers compute with it: masks applied, `_orig` and `_mask` keys folded.
    public static func effectiveState(_ model: Module) throws -> [String: Tensor] {
        var state = model.stateDict()
        for (path, module) in model.namedModules() {
            let prefix = path.isEmpty ? "" : path + "."
            for name in module.prunedParameterNames {
                guard let original = state.removeValue(forKey: prefix + name + "_orig") else { continue }
                state.removeValue(forKey: prefix + name + "_mask")
                state[prefix + name] = try withNoGrad { try module.masked(name, original) }
            }
        }
        return state
    }

    /// Writes the compact file atomically; returns its size in bytes.
    @discardableResult
    public static func save(_ model: Module, to path: String) throws -> Int {
        var tensors: [String: Tensor] = [:]
        var metadata = ["format": format]
        for (name, tensor) in try effectiveState(model) {
            guard tensor.dtype == .float32, tensor.count >= 64 else { tensors[name] = tensor; continue }
            let values = try tensor.contiguous().toFloatArray()
            let nonzeros = values.filter { $0 != 0 }
            // Sparse only where it is smaller: n/8 bitmask bytes plus 4 per nonzero against 4n.
            guard (values.count + 7) / 8 + 4 * nonzeros.count < 4 * values.count else { tensors[name] = tensor; continue }
            var bits = [UInt8](repeating: 0, count: (values.count + 7) / 8)
            for (index, value) in values.enumerated() where value != 0 { bits[index >> 3] |= 1 << UInt8(index & 7) }
            let bitmask = try Tensor.empty([bits.count], dtype: .int8)
            bits.withUnsafeBytes { bitmask.storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            tensors[name + ".bitmask"] = bitmask
            tensors[name + ".values"] = try Tensor(nonzeros, shape: [nonzeros.count])
            metadata[name + ".shape"] = tensor.shape.map(String.init).joined(separator: ",")
        }
        try Safetensors.save(tensors, metadata: metadata, to: path)
        return (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// The dense state a compact file holds.
    public static func load(_ path: String) throws -> [String: Tensor] {
        let file = try Safetensors.load(path)
        guard file.metadata["format"] == format else {
            throw CortexError.invalidFile(path: path, reason: "not a sparse checkpoint (format \(file.metadata["format"] ?? "none"), expected \(format))")
        }
        var state: [String: Tensor] = [:]
        for (name, tensor) in file.tensors where !name.hasSuffix(".bitmask") && !name.hasSuffix(".values") { state[name] = tensor }
        for (key, shapeText) in file.metadata where key.hasSuffix(".shape") {
            let name = String(key.dropLast(".shape".count))
            let shape = shapeText.split(separator: ",").compactMap { Int($0) }
            guard shape.count == shapeText.split(separator: ",").count, shape.allSatisfy({ $0 >= 0 }),
                  let bitmask = file.tensors[name + ".bitmask"], let valuesTensor = file.tensors[name + ".values"],
                  bitmask.dtype == .int8, valuesTensor.dtype == .float32 else {
                throw CortexError.invalidFile(path: path, reason: "sparse tensor \(name) lacks a valid shape, bitmask or values")
            }
            let count = shape.reduce(1, *)
            guard bitmask.count == (count + 7) / 8 else {
                throw CortexError.invalidFile(path: path, reason: "\(name).bitmask has \(bitmask.count) bytes, shape \(shape) needs \((count + 7) / 8)")
            }
            let contiguousMask = try bitmask.contiguous()
            let bits = UnsafeBufferPointer(start: (contiguousMask.storage.pointer + contiguousMask.layout.offset).assumingMemoryBound(to: UInt8.self),
                                           count: bitmask.count)
            let nonzeros = try valuesTensor.toFloatArray()
            var dense = [Float](repeating: 0, count: count)
            var next = 0
            for index in 0..<count where bits[index >> 3] & (1 << UInt8(index & 7)) != 0 {
                guard next < nonzeros.count else {
                    throw CortexError.invalidFile(path: path, reason: "\(name).bitmask marks more entries than the \(nonzeros.count) values")
                }
                dense[index] = nonzeros[next]
                next += 1
            }
            guard next == nonzeros.count else {
                throw CortexError.invalidFile(path: path, reason: "\(name).bitmask marks \(next) entries but there are \(nonzeros.count) values")
            }
            state[name] = try Tensor(dense, shape: shape)
        }
        return state
    }

    /// Loads a compact file into `model`. With `keepingMasks`, every prunable layer's weight
    /// gets a mask of its nonzero entries, so further training keeps the zeros.
    public static func load(into model: Module, from path: String, keepingMasks: Bool = false) throws {
        let state = try load(path)
        try Pruning.removeAll(model)
        do { try model.loadStateDict(state) } catch let CortexError.invalidArgument(operation, reason) {
            throw CortexError.invalidFile(path: path, reason: "\(operation): \(reason)")
        }
        guard keepingMasks else { return }
        for (_, module) in model.namedModules() where module is Prunable {
            guard let weight = (try? module.parameterSlot("weight", operation: "SparseCheckpoint.load"))?.tensor else { continue }
            let mask = try weight.detach().contiguous().toFloatArray().map { $0 == 0 ? Float(0) : 1 }
            module.setPruningMask("weight", try Tensor(mask, shape: weight.shape))
        }
    }
}

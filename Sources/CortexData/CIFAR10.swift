import CortexCore
import Foundation

/// CIFAR-10's binary batches (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`):
/// records of one label byte and 3072 pixel bytes (3 x 32 x 32, channel-major).
public enum CIFAR10 {
    public static let recordSize = 1 + 3 * 32 * 32

    /// Reads one batch file: images float32 (N, 3, 32, 32) in [0, 1], labels int64 (N).
    public static func readBatch(_ path: String) throws -> TensorDataset {
        let bytes = try DataFiles.read(path)
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw CortexError.invalidFile(path: path, reason: "\(bytes.count) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records")
        }
        let count = bytes.count / recordSize
        var labels: [Int] = [], pixels: [Float] = []
        labels.reserveCapacity(count)
        pixels.reserveCapacity(count * (recordSize - 1))
        for record in 0..<count {
            let start = record * recordSize
            let label = Int(bytes[start])
            guard label < 10 else { throw CortexError.invalidFile(path: path, reason: "record \(record) has label \(label), outside 0..<10") }
            labels.append(label)
            pixels += bytes[(start + 1)..<(start + recordSize)].map { Float($0) / 255 }
        }
        return try TensorDataset(inputs: Tensor(pixels, shape: [count, 3, 32, 32]), targets: Tensor(integers: labels))
    }

    /// The training set (five batches) or the test set from `directory`.
    public static func load(directory: String, train: Bool) throws -> TensorDataset {
        let names = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        let parts = try names.map { name -> TensorDataset in
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else { throw CortexError.io(path: path, reason: "missing CIFAR-10 batch file") }
            return try readBatch(path)
        }
        return try TensorDataset(inputs: Tensor.cat(parts.map(\.inputs)), targets: Tensor.cat(parts.map(\.targets)))
    }
}

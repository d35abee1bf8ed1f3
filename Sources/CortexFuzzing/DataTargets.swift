import CortexCore
import CortexData
import Foundation

extension FuzzTarget {
    static let dataTargets: [FuzzTarget] = [safetensors, idx, cifar, csv, gzip, tar]

    /// Tensors up to this many elements are read in full (larger ones only located), so a
    /// mutated shape cannot make a run slow.
    static let readableElements = 1 << 18

    static let safetensors = FuzzTarget("safetensors", "a .safetensors file: header JSON, dtypes, shapes, offsets", seeds: { sources in
        var seeds: [[UInt8]] = []
        for fixture in ["CortexNNTests/Fixtures/nn.safetensors", "CortexCoreTests/Fixtures/ops.safetensors",
                        "CortexModelsTests/Fixtures/gpt2-gguf/gpt2-tiny.reference.safetensors"] {
            if let bytes = sources.fixture(fixture) { seeds.append(bytes) }
        }
        // A few of MiniLM's own tensors, in each dtype Cortex reads.
        if let file = try? Safetensors.load(sources.miniLM + "/model.safetensors") {
            let small = file.names.filter { (file.tensors[$0]?.count ?? .max) <= 384 }.prefix(4)
            for dtype in [DType.float32, .float16, .bfloat16] {
                var tensors: [String: Tensor] = [:]
                for name in small { tensors[name] = try file.tensor(name).to(dtype) }
                let path = try FuzzWorkspace.shared.file("seed.safetensors", [])
                try Safetensors.save(tensors, metadata: ["format": "pt"], to: path)
                if let bytes = sources.bytes(path) { seeds.append(bytes) }
            }
        }
        return seeds
    }, body: { workspace, bytes in
        let file = try Safetensors.load(try workspace.file("input.safetensors", bytes))
        for name in file.names {
            try attempt {
                let tensor = try file.tensor(name)
                if tensor.count <= readableElements { _ = try tensor.to(.float32).toFloatArray() }
            }
        }
    })

    static let idx = FuzzTarget("idx", "an IDX file (MNIST, Fashion-MNIST): images and labels", seeds: { sources in
        var seeds: [[UInt8]] = []
        // The real files' headers with their counts cut to 8 images / 8 labels.
        if let images = sources.gunzipped("mnist/t10k-images-idx3-ubyte.gz"), images.count > 16 {
            var header = Array(images[0..<16])
            header[4...7] = [0, 0, 0, 8]
            seeds.append(header + images[16..<(16 + 8 * 784)])
        }
        if let labels = sources.gunzipped("mnist/t10k-labels-idx1-ubyte.gz"), labels.count > 8 {
            var header = Array(labels[0..<8])
            header[4...7] = [0, 0, 0, 8]
            seeds.append(header + labels[8..<16])
        }
        return seeds
    }, body: { workspace, bytes in
        let path = try workspace.file("input-idx-ubyte", bytes)
        try attempt { _ = try IDX.read(path).toFloatArray() }
        try attempt { _ = try IDX.read(path, asLabels: true).toIntArray() }
    })

    static let cifar = FuzzTarget("cifar", "a CIFAR-10 binary batch: label byte + 3,072 pixel bytes per record", seeds: { sources in
        // CIFAR-10 is not in the shared data: records built from real MNIST digits (label, then
        // the digit's 28 x 28 pixels centred in each 32 x 32 channel).
        guard let images = sources.gunzipped("mnist/t10k-images-idx3-ubyte.gz"),
              let labels = sources.gunzipped("mnist/t10k-labels-idx1-ubyte.gz") else { return [] }
        var batch: [UInt8] = []
        for record in 0..<3 {
            batch.append(labels[8 + record])
            for _ in 0..<3 {
                var channel = [UInt8](repeating: 0, count: 1024)
                for row in 0..<28 {
                    for column in 0..<28 { channel[(row + 2) * 32 + column + 2] = images[16 + record * 784 + row * 28 + column] }
                }
                batch += channel
            }
        }
        return [batch, Array(batch[0..<CIFAR10.recordSize])]
    }, body: { workspace, bytes in
        let dataset = try CIFAR10.readBatch(try workspace.file("data_batch_1.bin", bytes))
        _ = dataset.count
    })

    static let csv = FuzzTarget("csv", "a CSV table: header, quoted fields, numbers, a target column", seeds: { sources in
        var seeds: [[UInt8]] = []
        if let arrests = sources.pretrained("arrests/arrests.csv") { seeds.append(SeedSources.lines(arrests, 40)) }
        seeds.append(Array("x1,x2,label\n0.5,1.25,0\n-3e2,\"7\",1\n".utf8))
        return seeds
    }, body: { workspace, bytes in
        let path = try workspace.file("input.csv", bytes)
        // The last header field is the target, as a user would name it.
        let header = bytes.prefix { $0 != UInt8(ascii: "\n") }
        let target = String(decoding: header, as: UTF8.self).split(separator: ",").last
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" \r")) } ?? "label"
        try attempt { _ = try CSVTable.load(path, targetColumn: target, classification: true).count }
        try attempt { _ = try CSVTable.load(path, targetColumn: target, hasHeader: true, classification: false).count }
        try attempt {
            let table = try TabularTable.load(path)
            if let first = table.header.first { _ = try table.column(first) }
        }
    })

    static let gzip = FuzzTarget("gzip", "a gzip stream (one or more members)", seeds: { sources in
        ["mnist/t10k-labels-idx1-ubyte.gz"].compactMap { sources.data($0) }
    }, body: { _, bytes in
        _ = try DataFiles.gunzip(bytes, path: "input.gz")
    })

    static let tar = FuzzTarget("tar", "a tar archive: ustar headers, GNU long names, pax paths", seeds: { sources in
        // Archives of real files' first lines, one plain and one with a GNU long name.
        let text = sources.data("tinyshakespeare/input.txt").map { SeedSources.lines($0, 12) } ?? Array("First Citizen:\n".utf8)
        let labels = sources.gunzipped("mnist/t10k-labels-idx1-ubyte.gz").map { Array($0.prefix(40)) } ?? [0, 0, 8, 1]
        let longName = "cifar-10-batches-bin/" + String(repeating: "a", count: 120) + ".bin"
        return [
            TarWriter.archive([("data/input.txt", text, false), ("data/", [], true), ("data/labels", labels, false)]),
            TarWriter.archive([(longName, labels, false)]),
        ]
    }, body: { _, bytes in
        for entry in try TarArchive.parse(bytes, path: "input.tar") {
            // What extract would write: never outside its directory.
            let components = entry.name.split(separator: "/")
            guard !entry.name.hasPrefix("/"), !components.contains(".."), entry.range.upperBound <= bytes.count else {
                throw ContractBroken(target: "tar", reason: "parse let through the entry \(entry.name.debugDescription) at \(entry.range)")
            }
        }
    })
}

/// A parser returned something its own contract rules out.
struct ContractBroken: Error, CustomStringConvertible {
    let target: String, reason: String
    var description: String { "\(target): \(reason)" }
}

/// Just enough of a ustar writer to build seed archives.
enum TarWriter {
    static func archive(_ members: [(name: String, contents: [UInt8], isDirectory: Bool)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for member in members {
            if member.name.utf8.count > 100 {
                bytes += header(name: "././@LongLink", size: member.name.utf8.count + 1, type: "L")
                bytes += padded(Array(member.name.utf8) + [0])
            }
            bytes += header(name: String(member.name.prefix(100)), size: member.contents.count, type: member.isDirectory ? "5" : "0")
            bytes += padded(member.contents)
        }
        return bytes + [UInt8](repeating: 0, count: 1024)
    }

    static func padded(_ contents: [UInt8]) -> [UInt8] {
        contents + [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    static func header(name: String, size: Int, type: Character) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (index, byte) in text.utf8.enumerated() { header[offset + index] = byte } }
        put(name, at: 0)
        put("0000644", at: 100)
        put("0000000", at: 108)
        put("0000000", at: 116)
        put(String(format: "%011o", size), at: 124)
        put("00000000000", at: 136)
        header[156] = type.asciiValue!
        put("ustar", at: 257)
        put("00", at: 263)
        for index in 148..<156 { header[index] = 32 }
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", checksum), at: 148)
        header[154] = 0
        header[155] = 32
        return header
    }
}

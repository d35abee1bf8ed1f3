import ArgumentParser
import CortexCore
import CortexDistributed
import CortexModels
import CortexNN
import Foundation

/// `cortex-bench distributed`: all-reduce bus bandwidth on 2 ranks (shared memory, and TCP over
/// a veth pair between two network namespaces where this process may make them), and training
/// samples/s of mnist-cnn and char-gpt in three layouts of the machine's 2 cores: 1 rank x 1
/// thread, 1 rank x 2 threads, 2 ranks x 1 thread, with the share of the 2-rank step spent
/// waiting on gradient all-reduces. Each measurement is its own mpirun job of this binary
/// (`--worker`); the PyTorch column is torch.distributed (gloo) and DistributedDataParallel
/// measured the same way when CORTEX_TORCH_PYTHON is set.
struct DistributedSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "distributed", abstract: "All-reduce bandwidth and data-parallel training throughput.")

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "Internal: run one measurement as a rank of an mpirun job (allreduce or train).") var worker: String?
    @Option(help: "Worker: the model (mnist-cnn or char-gpt).") var model = "mnist-cnn"
    @Option(help: "Worker: training steps timed.") var steps = 20
    @Option(help: "Worker: the global batch (default 64 images for mnist-cnn, 32 windows for char-gpt).") var globalBatch: Int?
    @Option(help: "All-reduce sizes in MB.") var sizes = "1,4,16,64,256"
    @Flag(help: "Skip the veth rows.") var noVeth = false
    @Option(help: "Rounds of the training layouts, taken in turn (each row is the median).") var rounds = 3
    @Flag(help: "Worker: train without exchanging gradients (each rank alone: the ceiling of data parallelism).") var independent = false

    func run() throws {
        if let worker {
            try DistributedWorker.run(worker, model: model, steps: steps, sizes: sizeList, globalBatch: globalBatch, independent: independent)
            return
        }
        guard let mpirun = onPath("mpirun") else { throw ValidationError("mpirun not found: bash Tools/setup-debian.sh installs openmpi-bin") }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        let reference = PyTorchReference.run(suite: "distributed", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        var notes: [String] = [reference.note]

        func job(_ launcher: [String], _ environment: [String: String], _ arguments: [String]) throws -> [String: Double] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: launcher[0])
            process.arguments = Array(launcher.dropFirst()) + [executable, "distributed"] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ValidationError("\(launcher.joined(separator: " ")) \(arguments) exited with \(process.terminationStatus)") }
            var figures: [String: Double] = [:]
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let name = object["name"] as? String, let value = object["value"] as? Double else { continue }
                figures[name] = value
            }
            return figures
        }
        let two = [mpirun] + root + ["-np", "2"]
        // All-reduce bandwidth in shared memory.
        if options.includes("allreduce") {
            let figures = try job(two, ["CORTEX_NUM_THREADS": "1"], ["--worker", "allreduce", "--sizes", sizes])
            for size in sizeList {
                let name = "allreduce_busbw_\(size)MB_shm"
                rows.append(BenchmarkRow(name: name, cortex: figures["busbw_\(size)"] ?? .nan, reference: reference.figures[name], unit: "GB/s"))
            }
        }
        // Over the veth pair between two namespaces.
        if options.includes("allreduce") && !noVeth {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tools/netns-cluster.sh").standardized.path
            let name = "cxbench\(getpid() % 10_000)"
            if shell([script, "up", name]) == 0 {
                defer { _ = shell([script, "down", name]) }
                let figures = try job([script, "run", name, "-x", "CORTEX_NUM_THREADS", "-np", "2"], ["CORTEX_NUM_THREADS": "1"],
                                      ["--worker", "allreduce", "--sizes", sizes])
                for size in sizeList {
                    let row = "allreduce_busbw_\(size)MB_veth"
                    rows.append(BenchmarkRow(name: row, cortex: figures["busbw_\(size)"] ?? .nan, reference: reference.figures[row], unit: "GB/s"))
                }
            } else {
                _ = shell([script, "down", name])
                notes.append("veth rows skipped: network namespaces need root and iproute2.")
            }
        }
        // Training in three layouts of the 2 cores.
        for model in ["mnist-cnn", "char-gpt"] where options.includes(model) {
            let steps = model == "char-gpt" ? 8 : 30
            let arguments = ["--worker", "train", "--model", model, "--steps", String(steps)]
            // The layouts take turns, round after round, and each reports its median: this VM's
            // speed drifts by more than the differences being measured.
            let layouts: [(launcher: [String], threads: String, extra: [String])] = [
                (two.dropLast(2) + ["-np", "1"], "1", []), (two.dropLast(2) + ["-np", "1", "--bind-to", "none"], "2", []),
                (two, "1", []), (two, "1", ["--independent"]),
            ]
            var rates = [[Double]](repeating: [], count: layouts.count), waits: [Double] = []
            for _ in 0..<max(rounds, 1) {
                for (index, layout) in layouts.enumerated() {
                    let figures = try job(layout.launcher, ["CORTEX_NUM_THREADS": layout.threads], arguments + layout.extra)
                    rates[index].append(figures["samples_per_second"] ?? .nan)
                    if index == 2 { waits.append(figures["communication_share"] ?? .nan) }
                }
            }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            let (a, b, c, alone) = (median(rates[0]), median(rates[1]), median(rates[2]), median(rates[3]))
            let twoByOne = ["communication_share": median(waits)]
            let key = model.replacingOccurrences(of: "-", with: "_")
            for (layout, value) in [("1rank_1thread", a), ("1rank_2threads", b), ("2ranks_1thread", c), ("2ranks_no_exchange", alone)] {
                let name = "\(key)_\(layout)"
                rows.append(BenchmarkRow(name: name, cortex: value, reference: reference.figures[name], unit: "samples/s"))
            }
            let wait = (twoByOne["communication_share"] ?? .nan) * 100
            rows.append(BenchmarkRow(name: "\(key)_2ranks_comm_wait", cortex: wait, reference: reference.figures["\(key)_2ranks_comm_wait"], unit: "% of step",
                                     higherIsBetter: false))
            notes.append(String(format: "%@: 2 ranks x 1 thread = %.2fx of 1 rank x 1 thread (target 1.8x), %.2fx of 1 rank x 2 threads (target 1.0x); "
                                + "2 ranks exchanging nothing (the machine's ceiling) = %.2fx of 1 rank x 1 thread", model, c / a, c / b, alone / a))
        }
        notes.append("busbw = algbw x 2(n-1)/n (nccl-tests), n = 2 ranks; the median of repeated all-reduces of float32 buffers. Training: global batch 64 (mnist-cnn, Adam) "
                     + "and 32 windows of 128 characters (char-gpt 4 layers x 192, AdamW) on synthetic data, the slowest rank's time, the median of \(rounds) rounds taken in turn.")
        BenchmarkReport.print(rows, json: options.json, notes: notes)
    }

    private var sizeList: [Int] { sizes.split(separator: ",").compactMap { Int($0) } }

    private func shell(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    private func onPath(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// One rank's side of a measurement; rank 0 prints `{"name": ..., "value": ...}` lines.
enum DistributedWorker {
    static func run(_ kind: String, model: String, steps: Int, sizes: [Int], globalBatch: Int?, independent: Bool) throws {
        let group = try ProcessGroups.fromEnvironment()
        func report(_ name: String, _ value: Double) {
            if group.rank == 0 { print("{\"name\": \"\(name)\", \"value\": \(value.isFinite ? String(value) : "null")}") }
        }
        switch kind {
        case "allreduce":
            for size in sizes {
                let count = size * 1024 * 1024 / 4
                let tensor = try Tensor.ones([count])
                let repetitions = size >= 64 ? 5 : 15
                try group.allReduce(tensor, operation: .sum)
                var times: [Double] = []
                for _ in 0..<repetitions {
                    try group.barrier()
                    let start = Date()
                    try group.allReduce(tensor, operation: .sum)
                    times.append(try group.allReduce([Date().timeIntervalSince(start)], operation: .max)[0])
                }
                let median = times.sorted()[times.count / 2]
                let algorithmBandwidth = Double(count * 4) / median / 1e9
                report("busbw_\(size)", algorithmBandwidth * 2 * Double(group.size - 1) / Double(group.size))
            }
        case "train":
            try train(model: model, steps: steps, group: group, globalBatch: globalBatch, independent: independent, report: report)
        default:
            throw ValidationError("unknown worker \(kind) (allreduce, train)")
        }
        (group as? MPIProcessGroup)?.finalize()
    }

    static func train(model name: String, steps: Int, group: any ProcessGroup, globalBatch requested: Int?, independent: Bool,
                      report: (String, Double) -> Void) throws {
        let generator = RandomGenerator(seed: 0)
        let data = RandomGenerator(seed: UInt64(1 + group.rank))
        let module: Module
        let optimizer: Optimizer
        let step: () throws -> Tensor
        let globalBatch: Int
        var parallel: DistributedDataParallel?
        switch name {
        case "mnist-cnn":
            globalBatch = requested ?? 64
            let local = globalBatch / group.size
            let cnn = Classifiers.mnistCNN(generator: generator)
            module = cnn
            optimizer = Adam(cnn.parameters(), learningRate: 1e-3)
            parallel = group.size > 1 && !independent ? try DistributedDataParallel(cnn, group: group) : nil
            let images = try Tensor.rand([local, 1, 28, 28], generator: data)
            let labels = try Tensor(integers: (0..<local).map { ($0 + group.rank) % 10 })
            step = { try Loss.crossEntropy(parallel.map { try $0(images) } ?? cnn(images), targets: labels) }
        case "char-gpt":
            globalBatch = requested ?? 32
            let local = globalBatch / group.size, context = 128
            let gpt = GPT(GPTConfiguration(vocabularySize: 65, contextLength: context, embeddingSize: 192, layers: 4, heads: 4, dropout: 0), generator: generator)
            module = gpt
            optimizer = AdamW(gpt.parameters(), learningRate: 1e-3)
            parallel = group.size > 1 && !independent ? try DistributedDataParallel(gpt, group: group) : nil
            let tokens = (0..<(local * (context + 1))).map { _ in data.integer(below: 65) }
            var inputs: [Int] = [], targets: [Int] = []
            for row in 0..<local {
                let start = row * (context + 1)
                inputs += tokens[start..<(start + context)]
                targets += tokens[(start + 1)..<(start + context + 1)]
            }
            let x = try Tensor(integers: inputs, shape: [local, context]), y = try Tensor(integers: targets, shape: [local, context])
            step = { try gpt.loss(x, targets: y) }
        default:
            throw ValidationError("unknown model \(name) (mnist-cnn, char-gpt)")
        }
        _ = module
        func trainStep() throws {
            optimizer.zeroGrad()
            try step().backward()
            try optimizer.step()
        }
        for _ in 0..<2 { try trainStep() }
        try group.barrier()
        let waitedBefore = parallel?.communicationWaitSeconds ?? 0
        let start = Date()
        for _ in 0..<steps { try trainStep() }
        let mine = Date().timeIntervalSince(start)
        let seconds = try group.allReduce([mine], operation: .max)[0]
        let waited = try group.allReduce([(parallel?.communicationWaitSeconds ?? 0) - waitedBefore], operation: .mean)[0]
        report("samples_per_second", Double(steps * globalBatch) / seconds)
        report("communication_share", waited / seconds)
    }
}

import CortexCore
import CortexData
import CortexTestSupport
import CortexText
import Foundation
import Testing

/// Real mpirun jobs of the `cortex` binary built beside the tests: collectives and the wrapper
/// on 2 ranks, data-parallel training equal to one process, a rank killed mid-epoch, and bad
/// input refused on every rank. Skipped, with the reason, where mpirun or the data are absent.
@Suite(.serialized) struct MPITests {
    struct Tools {
        let mpirun: [String]
        let cortex: String
    }

    static func tools(_ test: String) -> Tools? {
        guard let mpirun = Launcher.mpirun(2) else {
            print("skipping \(test): mpirun not found (bash Tools/setup-debian.sh installs openmpi-bin)")
            return nil
        }
        guard let cortex = Launcher.builtProduct("cortex") else {
            print("skipping \(test): the cortex executable is not built beside the tests")
            return nil
        }
        return Tools(mpirun: mpirun, cortex: cortex)
    }

    /// CORTEX_DATA_DIR for a dataset's parent, or nil (with a message) where it is absent.
    static func dataRoot(_ dataset: String, _ test: String) -> String? {
        guard let directory = try? DataDirectory.locate(dataset) else {
            print("skipping \(test): no \(dataset) directory (set CORTEX_DATA_DIR or provide ../shared/data/\(dataset))")
            return nil
        }
        return URL(fileURLWithPath: directory).standardizedFileURL.deletingLastPathComponent().path
    }

    /// Parameters after 2 ranks x 32 and after 1 process x 64 on the same samples: only the
    /// order of sums differs. With SGD every element agrees within rtol 1e-5 (+ 1e-7 absolute).
    /// Adam divides each gradient by its own running magnitude, and where a gradient is a sum
    /// that cancels to below Adam's epsilon (pixels at MNIST's border that are almost never inked,
    /// say) the rounding of that sum moves a good part of a step of the learning rate. So with
    /// AdamW 99.9% of the elements must agree within rtol 1e-5 (+ 1e-7), and every element
    /// within rtol 1e-5 + lr / 100 (a hundredth of one Adam step); the test prints the figures.
    static func expectSameParameters(_ first: String, _ second: String, optimizer: String, learningRate: Float = 0,
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try Safetensors.load(first).tensors, b = try Safetensors.load(second).tensors
        #expect(a.keys.sorted() == b.keys.sorted(), sourceLocation: sourceLocation)
        let (relative, strictAbsolute): (Float, Float) = (1e-5, 1e-7)
        let absolute = optimizer == "sgd" ? strictAbsolute : learningRate / 100
        var worst: Float = 0, worstName = "", beyondStrict = 0, elements = 0, largestDifference: Float = 0
        for (name, tensor) in a {
            guard let other = b[name] else { continue }
            for (x, y) in zip(try tensor.toFloatArray(), try other.toFloatArray()) {
                elements += 1
                let difference = Swift.abs(x - y)
                let excess = difference / (relative * Swift.abs(y) + absolute)
                if excess > worst { worst = excess; worstName = name }
                if difference > relative * Swift.abs(y) + strictAbsolute { beyondStrict += 1 }
                largestDifference = Swift.max(largestDifference, difference)
            }
        }
        #expect(worst <= 1, "\(worstName) differs by \(worst)x the tolerance", sourceLocation: sourceLocation)
        if optimizer != "sgd" {
            #expect(Double(beyondStrict) <= 0.001 * Double(elements), "\(beyondStrict) of \(elements) beyond rtol 1e-5", sourceLocation: sourceLocation)
        }
        print("\(optimizer): 2 ranks against 1 process: \(elements - beyondStrict) of \(elements) elements within rtol 1e-5 + 1e-7; "
              + "worst \(String(format: "%.3f", worst))x of rtol 1e-5 + atol \(absolute) (\(worstName)); largest difference \(largestDifference)")
    }

    @Test func collectivesAndDataParallelContractsOnTwoRanks() throws {
        guard let tools = MPITests.tools("collectivesAndDataParallelContractsOnTwoRanks") else { return }
        let result = try Launcher.run(tools.mpirun + [tools.cortex, "distributed-check"], timeout: 120)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 11, "\(result.output)")
        #expect(!result.output.contains("FAIL"), "\(result.output)")
    }

    /// 20 SGD and 20 AdamW steps of the MLP on real MNIST: 2 ranks x 32 = 1 process x 64.
    @Test(arguments: ["sgd", "adamw"]) func mlpOnTwoRanksEqualsOneProcess(optimizer: String) throws {
        guard let tools = MPITests.tools("mlpOnTwoRanksEqualsOneProcess"), let data = MPITests.dataRoot("mnist", "mlpOnTwoRanksEqualsOneProcess") else { return }
        let directory = temporaryDirectory("cortex-mpi-mlp")
        let arguments = ["train", "mnist-mlp", "--max-steps", "20", "--batch-size", "64", "--optimizer", optimizer, "--json"]   // lr 0.05 (SGD), 2e-3 (AdamW)
        let parallel = try Launcher.run(tools.mpirun + [tools.cortex] + arguments + ["--out", directory + "/two"], environment: ["CORTEX_DATA_DIR": data])
        #expect(parallel.status == 0, "\(parallel.output)")
        #expect(parallel.output.contains("\"ranks\": 2"), "\(parallel.output)")
        let single = try Launcher.run([tools.cortex] + arguments + ["--out", directory + "/one"], environment: ["CORTEX_DATA_DIR": data])
        #expect(single.status == 0, "\(single.output)")
        try MPITests.expectSameParameters(directory + "/two/model.safetensors", directory + "/one/model.safetensors", optimizer: optimizer, learningRate: 2e-3)
    }

    /// 20 SGD and 20 AdamW steps of a small char-gpt on tiny Shakespeare.
    @Test(arguments: ["sgd", "adamw"]) func charGPTOnTwoRanksEqualsOneProcess(optimizer: String) throws {
        guard let tools = MPITests.tools("charGPTOnTwoRanksEqualsOneProcess"),
              let data = MPITests.dataRoot("tinyshakespeare", "charGPTOnTwoRanksEqualsOneProcess") else { return }
        let directory = temporaryDirectory("cortex-mpi-chargpt")
        let arguments = ["train", "char-gpt", "--layers", "2", "--heads", "2", "--width", "32", "--context", "32", "--iterations", "20",
                         "--eval-interval", "20", "--batch-size", "64", "--optimizer", optimizer, "--lr", "3e-3", "--json"]
        let parallel = try Launcher.run(tools.mpirun + [tools.cortex] + arguments + ["--out", directory + "/two"], environment: ["CORTEX_DATA_DIR": data])
        #expect(parallel.status == 0, "\(parallel.output)")
        let single = try Launcher.run([tools.cortex] + arguments + ["--out", directory + "/one"], environment: ["CORTEX_DATA_DIR": data])
        #expect(single.status == 0, "\(single.output)")
        try MPITests.expectSameParameters(directory + "/two/model.safetensors", directory + "/one/model.safetensors", optimizer: optimizer, learningRate: 3e-3)
    }

    /// gpt2-finetune of the 4-layer GPT-2 fixture (embeddings and the first block frozen),
    /// 10 AdamW steps: 2 ranks x 4 windows = 1 process x 8.
    @Test func gpt2FineTuneOnTwoRanksEqualsOneProcess() throws {
        guard let tools = MPITests.tools("gpt2FineTuneOnTwoRanksEqualsOneProcess"),
              let data = MPITests.dataRoot("tinyshakespeare", "gpt2FineTuneOnTwoRanksEqualsOneProcess") else { return }
        let directory = temporaryDirectory("cortex-mpi-gpt2")
        let model = directory + "/gpt2", text = data + "/tinyshakespeare/input.txt"
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CortexModelsTests/Fixtures/gpt2-4layer").path
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(atPath: fixture + "/" + file, toPath: model + "/" + file) }
        let corpus = String(try String(contentsOfFile: text, encoding: .utf8).prefix(20_000))
        try BPETrainer.train(corpus: corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>"], minimumFrequency: 1).save(directory: model)
        try corpus.write(toFile: directory + "/corpus.txt", atomically: true, encoding: .utf8)
        let arguments = [tools.cortex, "train", "gpt2-finetune", "--model", model, "--text", directory + "/corpus.txt", "--iterations", "10",
                         "--batch-size", "8", "--context", "16", "--freeze-embeddings", "--freeze-blocks", "1", "--lr", "1e-3", "--json"]
        let parallel = try Launcher.run(tools.mpirun + arguments + ["--out", directory + "/two"])
        #expect(parallel.status == 0, "\(parallel.output)")
        let single = try Launcher.run(arguments + ["--out", directory + "/one"])
        #expect(single.status == 0, "\(single.output)")
        try MPITests.expectSameParameters(directory + "/two/model.safetensors", directory + "/one/model.safetensors", optimizer: "adamw", learningRate: 1e-3)
    }

    /// A rank killed with SIGKILL mid-epoch ends the job, nonzero, within 60 s; the checkpoint
    /// of the last finished epoch loads, and training resumes from it on 2 ranks and on 1.
    @Test func aKilledRankEndsTheJobAndTheCheckpointResumes() throws {
        guard let tools = MPITests.tools("aKilledRankEndsTheJobAndTheCheckpointResumes"),
              let data = MPITests.dataRoot("mnist", "aKilledRankEndsTheJobAndTheCheckpointResumes") else { return }
        let directory = temporaryDirectory("cortex-mpi-fault")
        let checkpoint = directory + "/run"
        let started = Date()
        let (job, log) = try Launcher.start(tools.mpirun + [tools.cortex, "train", "mnist-mlp", "--epochs", "1000", "--limit-train-batches", "40",
                                                            "--out", checkpoint], environment: ["CORTEX_DATA_DIR": data])
        // Wait for the first epoch's checkpoint, then for the job to be inside a later epoch.
        while !FileManager.default.fileExists(atPath: checkpoint + "/trainer.json") && job.isRunning && Date().timeIntervalSince(started) < 240 {
            usleep(100_000)
        }
        usleep(700_000)
        guard job.isRunning, let victim = MPITests.rankProcess(1, marker: checkpoint) else {
            let result = Launcher.finish(job, log: log, started: started, timeout: 1)
            Issue.record("the job should still be training: \(result.output)")
            return
        }
        let killed = Date()
        kill(victim, SIGKILL)
        let result = Launcher.finish(job, log: log, started: killed, timeout: 90)
        #expect(!result.timedOut && result.seconds <= 60, "mpirun took \(result.seconds) s after the kill")
        #expect(result.status != 0)
        #expect(result.output.contains("rank 1"), "\(result.output)")
        print("a killed rank ended the job in \(String(format: "%.1f", result.seconds)) s with status \(result.status)")
        // The checkpoint is whole and resumes, on 2 ranks and on 1, for one more epoch each.
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: checkpoint + "/trainer.json"))) as? [String: Any]
        let epochs = (state?["history"] as? [Any])?.count ?? 0
        #expect(epochs >= 1)
        let resumed = try Launcher.run(tools.mpirun + [tools.cortex, "train", "mnist-mlp", "--resume", checkpoint, "--epochs", String(epochs + 1),
                                                       "--limit-train-batches", "5", "--out", directory + "/two", "--json"],
                                       environment: ["CORTEX_DATA_DIR": data])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("\"epochs\": \(epochs + 1)"), "\(resumed.output)")
        let alone = try Launcher.run([tools.cortex, "train", "mnist-mlp", "--resume", checkpoint, "--epochs", String(epochs + 1),
                                      "--limit-train-batches", "5", "--json"], environment: ["CORTEX_DATA_DIR": data])
        #expect(alone.status == 0, "\(alone.output)")
    }

    /// Ranks that build different models (here by MPMD arguments) all report it, and exit.
    @Test func mismatchedModelsAreReportedByEveryRank() throws {
        guard let tools = MPITests.tools("mismatchedModelsAreReportedByEveryRank"),
              let data = MPITests.dataRoot("tinyshakespeare", "mismatchedModelsAreReportedByEveryRank") else { return }
        let common = ["train", "char-gpt", "--layers", "1", "--heads", "2", "--context", "16", "--iterations", "2", "--json"]
        var arguments = Array(tools.mpirun.dropLast(2))
        arguments += ["-np", "1", tools.cortex] + common + ["--width", "32", ":", "-np", "1", tools.cortex] + common + ["--width", "64"]
        let result = try Launcher.run(arguments, environment: ["CORTEX_DATA_DIR": data], timeout: 90)
        #expect(!result.timedOut && result.status != 0, "\(result.output)")
        for rank in 0..<2 {
            #expect(result.output.contains("rank \(rank) of 2: error: invalid argument to DistributedDataParallel: the ranks' models differ"), "\(result.output)")
        }
        #expect(result.output.contains("rank 1 has 16 parameters and buffers (55296 elements), rank 0 has 16 (15360)"), "\(result.output)")
        #expect(result.output.contains("rank 0 has transformer.wte.weight [65, 32] float32 parameter, rank 1 has transformer.wte.weight [65, 64] float32 parameter"),
                "\(result.output)")
    }

    /// More ranks than examples, and a global batch that does not divide, are refused with the
    /// numbers on every rank.
    @Test func badShapesOfTheJobAreRefusedOnEveryRank() throws {
        guard let tools = MPITests.tools("badShapesOfTheJobAreRefusedOnEveryRank") else { return }
        let data = temporaryDirectory("cortex-mpi-tiny")
        try MPITests.writeTinyMNIST(into: data + "/mnist")
        let tooFew = try Launcher.run(tools.mpirun + [tools.cortex, "train", "mnist-mlp", "--data-dir", data + "/mnist"], timeout: 90)
        #expect(!tooFew.timedOut && tooFew.status != 0)
        for rank in 0..<2 {
            #expect(tooFew.output.contains("rank \(rank) of 2: error: invalid argument to DistributedSampler: 1 examples cannot be shared among 2 ranks"),
                    "\(tooFew.output)")
        }
        let uneven = try Launcher.run(tools.mpirun + [tools.cortex, "train", "mnist-mlp", "--data-dir", data + "/mnist", "--batch-size", "65"], timeout: 90)
        #expect(!uneven.timedOut && uneven.status != 0)
        for rank in 0..<2 {
            #expect(uneven.output.contains("rank \(rank) of 2: error: invalid argument to cortex train: --batch-size 65 does not divide among 2 ranks: use a multiple of 2 (64 or 66)"),
                    "\(uneven.output)")
        }
    }

    /// Two "hosts": network namespaces joined by a veth pair (Tools/netns-cluster.sh), one rank
    /// on each, Open MPI's TCP transport between them. The collectives pass, the MLP trains to
    /// the parameters of one process, and the gradients crossed the veth interface.
    @Test func twoRanksOnTwoHostsOverTCP() throws {
        guard let tools = MPITests.tools("twoRanksOnTwoHostsOverTCP"), let data = MPITests.dataRoot("mnist", "twoRanksOnTwoHostsOverTCP") else { return }
        let script = Launcher.packageRoot() + "/Tools/netns-cluster.sh"
        let name = "cortex\(getpid() % 100_000)"
        let up = try Launcher.run([script, "up", name], timeout: 30)
        guard up.status == 0 else {
            print("skipping twoRanksOnTwoHostsOverTCP: cannot make network namespaces here (root and iproute2 needed): \(up.output)")
            _ = try? Launcher.run([script, "down", name], timeout: 30)
            return
        }
        defer { _ = try? Launcher.run([script, "down", name], timeout: 30) }
        let environment = ["CORTEX_DATA_DIR": data, "CORTEX_NUM_THREADS": "1"]
        let forwarded = ["-x", "CORTEX_DATA_DIR", "-x", "CORTEX_NUM_THREADS", "-np", "2"]
        let check = try Launcher.run([script, "run", name] + forwarded + [tools.cortex, "distributed-check"], environment: environment, timeout: 120)
        #expect(check.status == 0 && !check.output.contains("FAIL"), "\(check.output)")
        let before = Int(try Launcher.run([script, "bytes", name], timeout: 10).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let directory = temporaryDirectory("cortex-netns-mlp")
        let arguments = ["train", "mnist-mlp", "--max-steps", "20", "--batch-size", "64", "--optimizer", "sgd", "--json"]
        let parallel = try Launcher.run([script, "run", name] + forwarded + [tools.cortex] + arguments + ["--out", directory + "/two"],
                                        environment: environment, timeout: 300)
        #expect(parallel.status == 0, "\(parallel.output)")
        let after = Int(try Launcher.run([script, "bytes", name], timeout: 10).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // 20 all-reduces of 101,770 float32 gradients: each rank receives at least half of them.
        #expect(after - before >= 20 * 101_770 * 4 / 2, "only \(after - before) bytes crossed the veth link")
        print("2 hosts: \(after - before) bytes received over the veth link during 20 steps")
        let single = try Launcher.run([tools.cortex] + arguments + ["--out", directory + "/one"], environment: ["CORTEX_DATA_DIR": data])
        #expect(single.status == 0, "\(single.output)")
        try MPITests.expectSameParameters(directory + "/two/model.safetensors", directory + "/one/model.safetensors", optimizer: "sgd")
    }

    /// The process of rank `rank` whose command line mentions `marker`.
    static func rankProcess(_ rank: Int, marker: String) -> pid_t? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry),
                  let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(marker),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// IDX files holding one training and one test image.
    static func writeTinyMNIST(into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func bigEndian(_ values: [UInt32]) -> [UInt8] { values.flatMap { value in (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } } }
        for prefix in ["train", "t10k"] {
            try Data(bigEndian([0x803, 1, 28, 28]) + [UInt8](repeating: 7, count: 784)).write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte"))
            try Data(bigEndian([0x801, 1]) + [3]).write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte"))
        }
    }
}

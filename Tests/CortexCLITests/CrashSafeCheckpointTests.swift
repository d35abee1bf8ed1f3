import CortexCore
import CortexModels
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexCLI

/// `cortex train` killed with SIGKILL at random moments while it saves checkpoints (one after
/// every epoch): every time, the model in the directory loads, and `--resume` either continues
/// from the epoch the checkpoint's manifest names or refuses the checkpoint as partial.
@Suite struct CrashSafeCheckpointTests {
    let directory: String = temporaryDirectory("cortex-crash-safe")

    struct Manifest: Decodable { let epoch: Int? }
    struct State: Decodable { struct Record: Decodable { let epoch: Int }; let history: [Record] }

    @Test func killsDuringSavesLeaveAWholeCheckpointOrARefusal() throws {
        guard let cortex = Launcher.builtProduct("cortex") else {
            print("skipping: the cortex binary is not built beside the tests")
            return
        }
        let data = try CompressionCommandTests().writeDataset(train: 128, test: 32)
        let generator = RandomGenerator(seed: 19)
        var resumed = 0, refused = 0, midSave = 0
        for trial in 0..<20 {
            let run = directory + "/run-\(trial)"
            // Odd trials: the directory holds a file of the user's, so the checkpoint is written
            // in place (manifest removed first, written last) instead of swapped in whole.
            let inPlace = trial % 2 == 1
            if inPlace {
                try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
                try Data("my notes\n".utf8).write(to: URL(fileURLWithPath: run + "/notes.txt"))
            }
            let (process, log) = try Launcher.start([cortex, "train", "mnist-mlp", "--data-dir", data, "--epochs", "1000", "--batch-size", "64",
                                                     "--out", run], environment: ["CORTEX_NUM_THREADS": "1"])
            let started = Date()
            while !FileManager.default.fileExists(atPath: run + "/" + CheckpointManifest.fileName) && process.isRunning
                    && Date().timeIntervalSince(started) < 120 { usleep(5_000) }
            // A random moment of the saves that follow (each epoch here is mostly its save).
            usleep(UInt32(generator.integer(below: 1_500_000)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: log)
            #expect(process.terminationReason == .uncaughtSignal, "trial \(trial): the run should have been killed, not ended")
            let leftovers = (try FileManager.default.contentsOfDirectory(atPath: directory)).filter { $0.hasPrefix(".run-\(trial).staging-") }
            if !leftovers.isEmpty || !CheckpointManifest.exists(in: run) { midSave += 1 }

            // The directory loads: its model, whichever epoch it is from.
            try Classifiers.mnistMLP(generator: RandomGenerator(seed: 1)).loadStateDict(from: run + "/model.safetensors")

            let continued = directory + "/continued-\(trial)"
            let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/" + CheckpointManifest.fileName)))
            let epoch = manifest?.epoch ?? 0
            do {
                var command = try CortexCommand.parseAsRoot(["train", "mnist-mlp", "--data-dir", data, "--epochs", "\(epoch + 1)", "--batch-size", "64",
                                                             "--resume", run, "--out", continued, "--json"])
                try command.run()
                let state = try JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: continued + "/trainer.json")))
                #expect(manifest != nil, "trial \(trial): a checkpoint without a manifest was resumed")
                #expect(state.history.map(\.epoch) == Array(1...(epoch + 1)), "trial \(trial): resumed from epoch \(epoch)")
                resumed += 1
            } catch let error as CortexError {
                #expect(error.description.contains("partial") || error.description.contains("mixed"), "trial \(trial): \(error)")
                refused += 1
            }
            // A later save into the same directory cleans up after the killed writer.
            if !leftovers.isEmpty {
                try AtomicDirectory.recover(run)
                #expect((try FileManager.default.contentsOfDirectory(atPath: directory)).filter { $0.hasPrefix(".run-\(trial).staging-") }.isEmpty)
            }
        }
        print("20 kills: \(midSave) landed inside a save; \(resumed) checkpoints resumed, \(refused) refused as partial")
        #expect(resumed + refused == 20)
        #expect(resumed > 0)
    }
}

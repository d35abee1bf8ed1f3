import CortexCore
import CortexData
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexTrain

/// A checkpoint is one unit: its manifest (written last) names every file with its hash, and a
/// resume refuses a set whose files are not the ones named: files from two epochs, a file
/// missing, or no manifest at all (a save that was interrupted).
@Suite struct CheckpointManifestTests {
    let directory: String = temporaryDirectory("cortex-manifest")

    func trained(epochs: Int) throws -> Trainer {
        let trainer = TrainerTests.makeTrainer()
        try trainer.fit(train: DataLoader(try TrainerTests.syntheticData(seed: 5), batchSize: 32, shuffle: true, seed: 7), epochs: epochs)
        return trainer
    }

    @Test func aWholeCheckpointResumesAndAMixedOneIsRefusedByName() throws {
        let first = directory + "/epoch-1", second = directory + "/epoch-2"
        try trained(epochs: 1).saveCheckpoint(to: first)
        try trained(epochs: 2).saveCheckpoint(to: second)
        let manifest = try CheckpointManifest.verify(directory: first, requiring: ["model.safetensors", "optimizer.safetensors", "trainer.json"])
        #expect(manifest.epoch == 1)
        #expect(Set(manifest.files.keys) == ["model.safetensors", "optimizer.safetensors", "trainer.json", "loss.svg", "accuracy.svg", "compute.json"])
        try TrainerTests.makeTrainer().loadCheckpoint(from: first)

        // The model of epoch 2 beside the rest of epoch 1.
        let mixed = directory + "/mixed"
        try FileManager.default.copyItem(atPath: first, toPath: mixed)
        try FileManager.default.removeItem(atPath: mixed + "/model.safetensors")
        try FileManager.default.copyItem(atPath: second + "/model.safetensors", toPath: mixed + "/model.safetensors")
        expectCortexError(["mixed or partial", "model.safetensors"]) { try TrainerTests.makeTrainer().loadCheckpoint(from: mixed) }

        // Epoch 2's trainer.json and manifest over epoch 1's model and optimizer.
        let swapped = directory + "/swapped"
        try FileManager.default.copyItem(atPath: first, toPath: swapped)
        for name in ["trainer.json", CheckpointManifest.fileName] {
            try FileManager.default.removeItem(atPath: swapped + "/" + name)
            try FileManager.default.copyItem(atPath: second + "/" + name, toPath: swapped + "/" + name)
        }
        expectCortexError(["mixed or partial"]) { try TrainerTests.makeTrainer().loadCheckpoint(from: swapped) }

        // No manifest: a save that never finished.
        try FileManager.default.removeItem(atPath: mixed + "/" + CheckpointManifest.fileName)
        expectCortexError(["partial", "checkpoint.json"]) { try TrainerTests.makeTrainer().loadCheckpoint(from: mixed) }
        // A file the manifest names, gone.
        let missing = directory + "/missing"
        try FileManager.default.copyItem(atPath: first, toPath: missing)
        try FileManager.default.removeItem(atPath: missing + "/optimizer.safetensors")
        expectCortexError(["optimizer.safetensors is missing"]) { try TrainerTests.makeTrainer().loadCheckpoint(from: missing) }
    }

    @Test func aSharedDirectoryKeepsItsFilesAndGetsAManifestLast() throws {
        let shared = directory + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: shared + "/notes.txt"))
        try trained(epochs: 1).saveCheckpoint(to: shared)
        try trained(epochs: 2).saveCheckpoint(to: shared)
        #expect(try CheckpointManifest.verify(directory: shared).epoch == 2)
        #expect(FileManager.default.fileExists(atPath: shared + "/notes.txt"))
        let resumed = TrainerTests.makeTrainer()
        try resumed.loadCheckpoint(from: shared)
        #expect(resumed.history.count == 2)
    }

    @Test func manifestsThatPointOutsideTheirDirectoryAreRefused() throws {
        let folder = directory + "/outside"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["../x", "/etc/passwd", ".hidden"] {
            let text = #"{"format": "cortex-checkpoint", "version": 1, "files": {"\#(name)": {"bytes": 1, "sha256": "00"}}}"#
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + CheckpointManifest.fileName))
            expectCortexError(["not a file of this directory"]) { try CheckpointManifest.verify(directory: folder) }
        }
        try Data(#"{"format": "other", "version": 1, "files": {}}"#.utf8).write(to: URL(fileURLWithPath: folder + "/" + CheckpointManifest.fileName))
        expectCortexError(["\"other\""]) { try CheckpointManifest.verify(directory: folder) }
    }
}

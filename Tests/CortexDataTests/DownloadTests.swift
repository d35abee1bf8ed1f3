import Foundation
import Testing
import CortexTestSupport
import CortexCore
import CortexData

/// SHA-256, tar extraction and the downloader's verify/extract path, on local files
/// (`file://` URLs go through the same code as downloads, minus curl).
@Suite struct DownloadTests {
    let directory: String = temporaryDirectory("cortex-download")

    func shell(_ command: String) throws -> String {
        let process = Process(), pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(command)")
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func sha256KnownAnswers() throws {
        func digest(_ bytes: [UInt8]) -> String { var hash = SHA256(); hash.update(bytes); return hash.finalize().hex }
        #expect(digest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Split updates at awkward boundaries agree with one update and with sha256sum.
        let bytes = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var pieces = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 127, 1000, 4096] + Array(repeating: 10_000, count: 10) where start < bytes.count {
            let end = min(bytes.count, start + size)
            pieces.update(Array(bytes[start..<end]))
            start = end
        }
        pieces.update(Array(bytes[start...]))
        let path = directory + "/bytes.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reference = try shell("sha256sum bytes.bin | cut -d' ' -f1")
        #expect(pieces.finalize().hex == reference)
        #expect(try SHA256.hash(file: path).hex == reference)
    }

    @Test func fetchesVerifiesAndSkipsPresentFiles() throws {
        try shell("mkdir -p mirror && printf 'first file' > mirror/a.gz && printf 'second' > mirror/b.gz")
        let hashes = try shell("cd mirror && sha256sum a.gz b.gz | cut -d' ' -f1").split(separator: "\n").map(String.init)
        let remote = RemoteDataset(name: "toy", directory: "toy", files: [
            RemoteFile(url: "https://example.invalid/data/a.gz", sha256: hashes[0]),
            RemoteFile(url: "https://example.invalid/data/b.gz", sha256: hashes[1].uppercased()),
        ])
        let downloader = Downloader(mirror: "file://\(directory)/mirror")
        let target = try downloader.fetch(remote, into: directory + "/root")
        #expect(target == directory + "/root/toy")
        #expect(try String(contentsOfFile: target + "/a.gz", encoding: .utf8) == "first file")
        // Present and verified: the transport is not called again.
        let refusing = Downloader(mirror: "file:///nowhere", transport: { url, _ in throw CortexError.io(path: url, reason: "offline") })
        #expect(try refusing.fetch(remote, into: directory + "/root") == target)
        // A corrupted local copy is fetched again.
        try "tampered".write(toFile: target + "/b.gz", atomically: true, encoding: .utf8)
        #expect(throws: CortexError.self) { try refusing.fetch(remote, into: directory + "/root") }
        try downloader.fetch(remote, into: directory + "/root")
        #expect(try String(contentsOfFile: target + "/b.gz", encoding: .utf8) == "second")
    }

    @Test func checksumMismatchLeavesNothingBehind() throws {
        try shell("mkdir -p mirror && printf 'payload' > mirror/c.bin")
        let wrong = String(repeating: "0", count: 64)
        let remote = RemoteDataset(name: "toy", directory: "toy", files: [RemoteFile(url: "https://example.invalid/c.bin", sha256: wrong)])
        do {
            try Downloader(mirror: "file://\(directory)/mirror").fetch(remote, into: directory + "/root")
            Issue.record("a wrong checksum must fail")
        } catch let error as CortexError {
            #expect(error.description.contains("SHA-256 mismatch") && error.description.contains(wrong) && error.description.contains("c.bin"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/root/toy").isEmpty)
    }

    @Test func unpacksVerifiedTarArchives() throws {
        // The shape of CIFAR-10's archive: a gzipped tar holding its own directory.
        try shell("""
            mkdir -p src/cifar-10-batches-bin/deep/er && printf 'batch one' > src/cifar-10-batches-bin/data_batch_1.bin \
            && head -c 3000 /dev/zero > src/cifar-10-batches-bin/deep/er/zeros.bin \
            && tar -C src -czf cifar-10-binary.tar.gz cifar-10-batches-bin
            """)
        let hash = try shell("sha256sum cifar-10-binary.tar.gz | cut -d' ' -f1")
        let remote = RemoteDataset(name: "cifar10", directory: "cifar-10-batches-bin", files: [
            RemoteFile(url: RemoteDataset.cifar10.files[0].url, sha256: hash, isArchive: true)])
        let target = try Downloader(mirror: "file://\(directory)").fetch(remote, into: directory + "/root")
        #expect(target == directory + "/root/cifar-10-batches-bin")
        #expect(try String(contentsOfFile: target + "/data_batch_1.bin", encoding: .utf8) == "batch one")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target + "/deep/er/zeros.bin")) == Data(count: 3000))
    }

    @Test func hostileOrDamagedArchivesAreTypedErrors() throws {
        func expectInvalid(_ path: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            expectCortexError([fragment, path], sourceLocation: sourceLocation) { try TarArchive.extract(path, into: directory + "/out") }
        }
        try shell("mkdir -p t && printf 'x' > t/file && tar -cf escape.tar -P --transform 's,^t/file,../escape,' t/file")
        expectInvalid(directory + "/escape.tar", "outside the destination")
        #expect(!FileManager.default.fileExists(atPath: directory + "/escape"))
        try shell("head -c 2000 /dev/urandom > t/big && tar -cf whole.tar t/big && head -c 1500 whole.tar > cut.tar")
        expectInvalid(directory + "/cut.tar", "truncated")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/whole.tar")))
        bytes[3] ^= 0x41
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/bad-checksum.tar"))
        expectInvalid(directory + "/bad-checksum.tar", "checksum")
    }

    @Test func knownDatasetsAreNamedAndCarryChecksums() throws {
        #expect(try RemoteDataset.named("mnist").files.count == 4)
        #expect(RemoteDataset.known.allSatisfy { $0.files.allSatisfy { $0.sha256.count == 64 } })
        #expect(throws: CortexError.self) { try RemoteDataset.named("imagenet") }
    }
}

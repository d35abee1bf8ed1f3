import CortexCore
import CortexData
import CortexTestSupport
import CortexText
import Foundation
import Testing
@testable import CortexFuzzing

/// The libFuzzer targets, run here without libFuzzer: each target's seeds (cut from the real
/// data and models) must parse, the inputs of past findings must now be accepted or refused
/// with a `CortexError`, and a few hundred seeded mutations of each seed keep that contract.
@Suite struct FuzzTargetTests {
    static let findings = Bundle.module.url(forResource: "Findings", withExtension: nil)!.path

    @Test func everyParserOfTheIssueHasATarget() {
        let names = Set(FuzzTarget.all.map(\.name))
        #expect(names == ["safetensors", "gguf", "idx", "cifar", "csv", "gzip", "tar", "tokenizer-json", "vocab-merges", "encoder-bpe",
                          "vocab-txt", "gpt2-config", "llama-config", "bert-config", "chat-template", "trainer-state", "optimizer-state"])
        #expect(names.count == FuzzTarget.all.count)
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func seedsAreAcceptedAndMutantsKeepTheContract(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let seeds = try target.seedInputs()
        guard !seeds.isEmpty else {
            print("skipping \(name): none of its seed sources (../shared/data, the pretrained models) is present")
            return
        }
        for (index, seed) in seeds.enumerated() {
            #expect(try target.run(seed), "\(name) seed \(index) (\(seed.count) bytes) should parse")
            let outcome = try MutationFuzzer(original: seed, seed: UInt64(index + 1)).run(trials: 150) { mutant in
                _ = try target.run(mutant)
            }
            #expect(outcome.trials >= 150)
        }
    }

    @Test func pastFindingsAreFixed() throws {
        let manager = FileManager.default
        var replayed = 0
        for folder in try manager.contentsOfDirectory(atPath: Self.findings).sorted() {
            guard let target = FuzzTarget.named(folder) else { continue }
            for file in try manager.contentsOfDirectory(atPath: Self.findings + "/" + folder).sorted() {
                let bytes = try #require(manager.contents(atPath: Self.findings + "/" + folder + "/" + file))
                _ = try target.run([UInt8](bytes))
                replayed += 1
            }
        }
        print("replayed \(replayed) past findings")
    }

    /// What each fix refuses, by name (the findings' inputs themselves are replayed above).
    @Test func theFindingsAreRefusedByName() throws {
        let directory = temporaryDirectory("cortex-findings")
        // IDX: four sizes whose product passes Int; and a zero size beside huge ones.
        var header: [UInt8] = [0, 0, 8, 4]
        for size: UInt32 in [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 2] { header += withUnsafeBytes(of: size.bigEndian, Array.init) }
        try Data(header).write(to: URL(fileURLWithPath: directory + "/overflow.idx"))
        expectCortexError(["more than \(Int.max)"]) { _ = try IDX.read(directory + "/overflow.idx") }
        expectCortexError(["too large"]) { _ = try Tensor(integers: [], shape: [0, 1 << 40, 1 << 40]) }
        expectCortexError(["too large"]) { _ = try Tensor.empty([1 << 40, 1 << 40]) }
        // CSV: class labels that are not whole numbers.
        try Data("x,label\n1,nan\n".utf8).write(to: URL(fileURLWithPath: directory + "/labels.csv"))
        expectCortexError(["line 2", "nan", "whole number"]) { _ = try CSVTable.load(directory + "/labels.csv", targetColumn: "label", classification: true) }
        // Tokenizers: an id far past the vocabulary's size.
        expectCortexError(["\"b\"", "54000000000", "far past"]) {
            _ = try ByteLevelBPETokenizer(vocabulary: ["a": 0, "b": 54_000_000_000], merges: [])
        }
        expectCortexError(["1087000000", "far past"]) {
            _ = try WordPieceTokenizer(vocabulary: ["[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "word": 1_087_000_000])
        }
    }

    @Test func multiFileInputsSplitAtTheSeparator() {
        let input = joined([Array("a".utf8), [], Array("c".utf8)])
        #expect(parts(input, count: 3) == [Array("a".utf8), [], Array("c".utf8)])
        #expect(parts(Array("only".utf8), count: 2) == [Array("only".utf8), []])
        // A third part joins the second when two are asked for.
        #expect(parts(input, count: 2) == [Array("a".utf8), fuzzPartSeparator + Array("c".utf8)])
    }
}

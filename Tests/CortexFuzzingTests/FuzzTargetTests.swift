import CortexCore
import CortexTestSupport
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

    @Test func multiFileInputsSplitAtTheSeparator() {
        let input = joined([Array("a".utf8), [], Array("c".utf8)])
        #expect(parts(input, count: 3) == [Array("a".utf8), [], Array("c".utf8)])
        #expect(parts(Array("only".utf8), count: 2) == [Array("only".utf8), []])
        // A third part joins the second when two are asked for.
        #expect(parts(input, count: 2) == [Array("a".utf8), fuzzPartSeparator + Array("c".utf8)])
    }
}

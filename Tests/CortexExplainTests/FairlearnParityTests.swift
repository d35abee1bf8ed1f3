import CortexExplain
import CortexTestSupport
import Foundation
import Testing

/// MetricFrame and the disparity metrics against Fairlearn (Tools/make_fairness_fixtures.py), to 1e-9.
@Suite struct FairlearnParityTests {
    struct Case: Decodable {
        let name: String
        let y_true: [Int], y_pred: [Int]
        let sensitive: [String: [String]]
        let weights: [Double]?
        let overall: [String: Double?]
        let by_group: [String: [String: Double?]]
        let group_min: [String: Double?], group_max: [String: Double?]
        let between_groups: Disparities, to_overall: Disparities
    }

    struct Disparities: Decodable {
        let difference: [String: Double?], ratio: [String: Double?]
        let demographic_parity_difference: Double?, demographic_parity_ratio: Double?
        let equalized_odds_difference: Double?, equalized_odds_ratio: Double?, equalized_odds_difference_mean: Double?
    }

    struct File: Decodable { let cases: [Case] }

    static let cases: [Case] = {
        let url = Bundle.module.url(forResource: "fairlearn", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }()

    static func expectEqual(_ got: Double, _ want: Double?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if let want {
            #expect(abs(got - want) <= 1e-9, "\(what): \(got) vs Fairlearn's \(want)", sourceLocation: sourceLocation)
        } else {
            #expect(got.isNaN, "\(what): \(got) vs Fairlearn's NaN", sourceLocation: sourceLocation)
        }
    }

    static func groups(_ c: Case) throws -> [String] {
        c.sensitive.count == 1 ? c.sensitive.values.first! : try MetricFrame.intersection(["colour", "sex"].map { c.sensitive[$0]! })
    }

    @Test(arguments: cases.map(\.name))
    func metricFrame(name: String) throws {
        let c = Self.cases.first { $0.name == name }!
        let groups = try Self.groups(c)
        let frame = try MetricFrame(metrics: FairnessMetric.allCases, truth: c.y_true, predictions: c.y_pred, sensitiveFeatures: groups,
                                    sampleWeights: c.weights)
        #expect(frame.groups == c.by_group.keys.sorted())
        for metric in FairnessMetric.allCases {
            Self.expectEqual(frame.overall[metric]!, c.overall[metric.rawValue]!, "\(name) overall \(metric)")
            for group in frame.groups {
                Self.expectEqual(frame.byGroup[group]![metric]!, c.by_group[group]![metric.rawValue]!, "\(name) \(group) \(metric)")
            }
            Self.expectEqual(frame.groupMin()[metric]!, c.group_min[metric.rawValue]!, "\(name) group_min \(metric)")
            Self.expectEqual(frame.groupMax()[metric]!, c.group_max[metric.rawValue]!, "\(name) group_max \(metric)")
            for (method, want) in [(DisparityMethod.betweenGroups, c.between_groups), (.toOverall, c.to_overall)] {
                Self.expectEqual(frame.difference(method: method)[metric]!, want.difference[metric.rawValue]!, "\(name) difference \(method) \(metric)")
                Self.expectEqual(frame.ratio(method: method)[metric]!, want.ratio[metric.rawValue]!, "\(name) ratio \(method) \(metric)")
            }
        }
        for (method, want) in [(DisparityMethod.betweenGroups, c.between_groups), (.toOverall, c.to_overall)] {
            let (t, p, w) = (c.y_true, c.y_pred, c.weights)
            Self.expectEqual(try Fairness.demographicParityDifference(truth: t, predictions: p, sensitiveFeatures: groups, method: method, sampleWeights: w),
                             want.demographic_parity_difference, "\(name) demographic_parity_difference \(method)")
            Self.expectEqual(try Fairness.demographicParityRatio(truth: t, predictions: p, sensitiveFeatures: groups, method: method, sampleWeights: w),
                             want.demographic_parity_ratio, "\(name) demographic_parity_ratio \(method)")
            Self.expectEqual(try Fairness.equalizedOddsDifference(truth: t, predictions: p, sensitiveFeatures: groups, method: method, sampleWeights: w),
                             want.equalized_odds_difference, "\(name) equalized_odds_difference \(method)")
            Self.expectEqual(try Fairness.equalizedOddsRatio(truth: t, predictions: p, sensitiveFeatures: groups, method: method, sampleWeights: w),
                             want.equalized_odds_ratio, "\(name) equalized_odds_ratio \(method)")
            Self.expectEqual(try Fairness.equalizedOddsDifference(truth: t, predictions: p, sensitiveFeatures: groups, method: method, mean: true,
                                                                  sampleWeights: w),
                             want.equalized_odds_difference_mean, "\(name) equalized_odds_difference mean \(method)")
        }
    }

    @Test func documentedExample() throws {
        // Fairlearn's MetricFrame docstring: by_group 0.8 / 0.4, difference 0.4, ratio 0.5, max 0.8.
        let frame = try MetricFrame(metrics: [.accuracy, .selectionRate], truth: [1, 1, 1, 1, 1, 0, 0, 1, 1, 0],
                                    predictions: [0, 1, 1, 1, 1, 0, 0, 0, 1, 1],
                                    sensitiveFeatures: Array(repeating: "Female", count: 5) + Array(repeating: "Male", count: 5))
        #expect(abs(frame.byGroup["Female"]![.selectionRate]! - 0.8) < 1e-12)
        #expect(abs(frame.byGroup["Male"]![.selectionRate]! - 0.4) < 1e-12)
        #expect(abs(frame.difference()[.selectionRate]! - 0.4) < 1e-12)
        #expect(abs(frame.ratio()[.selectionRate]! - 0.5) < 1e-12)
        #expect(abs(frame.groupMax()[.selectionRate]! - 0.8) < 1e-12)
        #expect(abs(frame.difference()[.accuracy]! - 0.2) < 1e-12)
    }

    @Test func badInput() {
        expectCortexError(["label 2 is not binary"]) {
            _ = try MetricFrame(metrics: [.accuracy], truth: [0, 2], predictions: [0, 1], sensitiveFeatures: ["a", "b"])
        }
        expectCortexError(["2 labels, 2 predictions, 1 sensitive values"]) {
            _ = try MetricFrame(metrics: [.accuracy], truth: [0, 1], predictions: [0, 1], sensitiveFeatures: ["a"])
        }
        expectCortexError(["group \"Other\" of colour has no samples", "Black, White"]) {
            _ = try FairnessReport(truth: [0, 1], predictions: [1, 1], sensitiveFeatures: ["colour": ["Black", "White"]],
                                   requiredGroups: ["colour": ["Black", "Other", "White"]])
        }
        expectCortexError(["there are no samples"]) {
            _ = try MetricFrame(metrics: [.accuracy], truth: [], predictions: [], sensitiveFeatures: [])
        }
    }
}

import CortexCore
import CortexNN

/// Occlusion (Zeiler & Fergus 2014), as Captum's `Occlusion`: a window slides over each input,
/// the covered values are replaced by the baseline, and every covered value is credited with the
/// drop in the target's score, averaged over the windows that covered it.
///
/// ```swift
/// let maps = try Occlusion(model).attribute(images, slidingWindow: [1, 4, 4], strides: [1, 2, 2], target: labels)
/// ```
///
/// The window and strides have one entry per axis of one example (not the batch); a window
/// moves ⌈(size − window) / stride⌉ + 1 times along an axis, the last position cut at the edge.
public struct Occlusion: Sendable {
    public let function: ExplainedFunction

    public init(_ function: ExplainedFunction) { self.function = function }
    public init(_ model: Module & Layer) { function = ExplainedFunction(model) }

    /// `perturbationsPerEvaluation` windows are scored in one forward pass.
    public func attribute(_ inputs: Tensor, slidingWindow: [Int], strides: [Int]? = nil, baselines: Tensor? = nil,
                          target: AttributionTarget = .none, perturbationsPerEvaluation: Int = 16) throws -> Tensor {
        try checkBatch(inputs, operation: "Occlusion")
        let exampleShape = Array(inputs.shape.dropFirst())
        let strides = strides ?? Array(repeating: 1, count: slidingWindow.count)
        guard slidingWindow.count == exampleShape.count, strides.count == exampleShape.count else {
            throw CortexError.invalidArgument(operation: "Occlusion",
                                              reason: "window \(slidingWindow) and strides \(strides) need one entry per axis of an example \(exampleShape)")
        }
        for axis in exampleShape.indices {
            guard slidingWindow[axis] >= 1, slidingWindow[axis] <= exampleShape[axis] else {
                throw CortexError.invalidArgument(operation: "Occlusion", reason: "window \(slidingWindow) does not fit in an example \(exampleShape)")
            }
            guard strides[axis] >= 1, slidingWindow[axis] == exampleShape[axis] || strides[axis] <= slidingWindow[axis] else {
                throw CortexError.invalidArgument(operation: "Occlusion", reason: "stride \(strides[axis]) on axis \(axis) must be between 1 and the window \(slidingWindow[axis])")
            }
        }
        guard perturbationsPerEvaluation >= 1 else {
            throw CortexError.invalidArgument(operation: "Occlusion", reason: "\(perturbationsPerEvaluation) perturbations per evaluation is not positive")
        }
        let baseline = try resolvedBaseline(baselines, for: inputs, operation: "Occlusion")
        let shifts = exampleShape.indices.map { axis in
            (exampleShape[axis] - slidingWindow[axis] + strides[axis] - 1) / strides[axis] + 1
        }
        let positions = shifts.reduce(1, *)
        let examples = inputs.shape[0], elements = exampleShape.reduce(1, *)
        let initial = try function.scores(inputs, target: target, operation: "Occlusion")
        let (values, baseValues) = (try inputs.contiguous().toFloatArray(), try baseline.contiguous().toFloatArray())
        var totals = [Float](repeating: 0, count: examples * elements)
        var counts = [Float](repeating: 0, count: elements)
        var position = 0
        while position < positions {
            let batch = position..<min(positions, position + perturbationsPerEvaluation)
            let masks = batch.map { occlusionMask(window: $0, shifts: shifts, strides: strides, size: slidingWindow, shape: exampleShape) }
            // Window-major: every example under window 0, then under window 1, ...
            var occluded = [Float](); occluded.reserveCapacity(batch.count * examples * elements)
            for mask in masks {
                for example in 0..<examples {
                    let base = example * elements
                    for element in 0..<elements { occluded.append(mask[element] ? baseValues[base + element] : values[base + element]) }
                }
            }
            let scores = try function.scores(Tensor(occluded, shape: [batch.count * examples] + exampleShape),
                                             target: target, repeats: batch.count, operation: "Occlusion")
            for (offset, mask) in masks.enumerated() {
                for element in 0..<elements where mask[element] {
                    counts[element] += 1
                    for example in 0..<examples {
                        totals[example * elements + element] += initial[example] - scores[offset * examples + example]
                    }
                }
            }
            position = batch.upperBound
        }
        for example in 0..<examples {
            for element in 0..<elements { totals[example * elements + element] /= counts[element] }
        }
        return try Tensor(totals, shape: inputs.shape)
    }
}

/// Which elements of an example window number `window` covers: the window's position along each
/// axis is a digit of `window` in the mixed base `shifts`, the first axis the lowest digit.
func occlusionMask(window: Int, shifts: [Int], strides: [Int], size: [Int], shape: [Int]) -> [Bool] {
    var remaining = window
    var start: [Int] = []
    for (axis, shift) in shifts.enumerated() {
        start.append((remaining % shift) * strides[axis])
        remaining /= shift
    }
    let elements = shape.reduce(1, *)
    var mask = [Bool](repeating: false, count: elements)
    var index = [Int](repeating: 0, count: shape.count)
    for element in 0..<elements {
        var rest = element
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        mask[element] = shape.indices.allSatisfy { index[$0] >= start[$0] && index[$0] < start[$0] + size[$0] }
    }
    return mask
}

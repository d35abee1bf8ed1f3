import CortexCore
import CortexNN

/// Grad-CAM (Selvaraju et al. 2017) on a chosen layer, as Captum's `LayerGradCam`: the layer's
/// activations weighted by the spatial mean of their gradients, summed over channels, giving
/// (N, 1, H', W') at the layer's resolution. ``LayerAttribution/interpolate(_:to:mode:)``
/// brings a map up to the input's size.
///
/// ```swift
/// let cam = try LayerGradCam(model, layer: model.submodule(named: "3"))   // the second Conv2d
/// let maps = try cam.attribute(images, target: labels, reluAttributions: true)
/// let big = try LayerAttribution.interpolate(maps, to: [28, 28], mode: .bilinear)
/// ```
public struct LayerGradCam: @unchecked Sendable {
    public let function: ExplainedFunction
    public let layer: Module

    public init(_ function: ExplainedFunction, layer: Module) {
        self.function = function
        self.layer = layer
    }

    public init(_ model: Module & Layer, layer: Module) { self.init(ExplainedFunction(model), layer: layer) }

    /// `attributeToLayerInput` uses the layer's input instead of its output;
    /// `summingChannels` false keeps one map per channel (Captum's `attr_dim_summation`).
    public func attribute(_ inputs: Tensor, target: AttributionTarget = .none, reluAttributions: Bool = false,
                          attributeToLayerInput: Bool = false, summingChannels: Bool = true) throws -> Tensor {
        guard inputs.rank >= 1, inputs.shape[0] > 0 else {
            throw CortexError.invalidArgument(operation: "LayerGradCam", reason: "the inputs \(inputs.shape) hold no example")
        }
        let (activations, gradients) = try function.withFrozenParameters {
            try withLayerOutput(of: layer, inputOf: attributeToLayerInput) { captured in
                let scores = try target.scores(function.forward(inputs.detach()), examples: inputs.shape[0], operation: "LayerGradCam")
                let activations = try captured()
                try scores.sum().backward()
                return (activations.detach(), try activations.grad ?? Tensor.zeros(like: activations))
            }
        }
        let weights = gradients.rank > 2 ? try gradients.mean(axes: Array(2..<gradients.rank), keepDimensions: true) : gradients
        var maps = try weights * activations
        if summingChannels { maps = try maps.sum(axes: [1], keepDimensions: true) }
        return reluAttributions ? try maps.relu() : maps
    }
}

/// Helpers for layer attributions, as Captum's `LayerAttribution`.
public enum LayerAttribution {
    public enum InterpolationMode: String, Sendable { case nearest, bilinear }

    /// (N, C, h, w) maps resized to (N, C, H, W), as `F.interpolate` (nearest, or bilinear with
    /// `align_corners=False`); Captum's default mode is nearest.
    public static func interpolate(_ maps: Tensor, to size: [Int], mode: InterpolationMode = .nearest) throws -> Tensor {
        guard maps.rank == 4, size.count == 2, size.allSatisfy({ $0 > 0 }) else {
            throw CortexError.shapeMismatch(operation: "LayerAttribution.interpolate", shapes: [maps.shape, size],
                                            reason: "(maps (N, C, h, w) and a size [H, W] are needed)")
        }
        let (planes, h, w) = (maps.shape[0] * maps.shape[1], maps.shape[2], maps.shape[3])
        let (height, width) = (size[0], size[1])
        let values = try maps.contiguous().toFloatArray()
        var result = [Float](repeating: 0, count: planes * height * width)
        let (scaleY, scaleX) = (Float(h) / Float(height), Float(w) / Float(width))
        func source(_ index: Int, _ scale: Float, _ limit: Int) -> (Int, Int, Float) {
            let position = max(0, (Float(index) + 0.5) * scale - 0.5)
            let low = min(Int(position), limit - 1)
            return (low, min(low + 1, limit - 1), position - Float(low))
        }
        for plane in 0..<planes {
            let input = plane * h * w, output = plane * height * width
            for y in 0..<height {
                for x in 0..<width {
                    switch mode {
                    case .nearest:
                        let sy = min(Int(Float(y) * scaleY), h - 1), sx = min(Int(Float(x) * scaleX), w - 1)
                        result[output + y * width + x] = values[input + sy * w + sx]
                    case .bilinear:
                        let (y0, y1, fy) = source(y, scaleY, h), (x0, x1, fx) = source(x, scaleX, w)
                        let top = values[input + y0 * w + x0] * (1 - fx) + values[input + y0 * w + x1] * fx
                        let bottom = values[input + y1 * w + x0] * (1 - fx) + values[input + y1 * w + x1] * fx
                        result[output + y * width + x] = top * (1 - fy) + bottom * fy
                    }
                }
            }
        }
        return try Tensor(result, shape: [maps.shape[0], maps.shape[1], height, width])
    }
}

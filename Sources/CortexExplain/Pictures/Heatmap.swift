import CortexCore

/// Attribution maps as pictures: a map alone in a colour scale, or blended over the input image.
///
/// ```swift
/// let maps = try IntegratedGradients(model).attribute(images, target: labels).attributions
/// let panel = try Heatmap.panel(image: images.select(axis: 0, index: 0), attribution: maps.select(axis: 0, index: 0),
///                               colormap: .diverging, scale: 8)
/// try panel.writePNG(to: "ig-0.png")   // input | map | map over input
/// ```
public enum Heatmap {
    /// A (H, W) or (C, H, W) tensor as H x W values, channels summed (Captum's
    /// visualisation sums attributions over channels); a 1-D map of n values becomes one row.
    public static func plane(_ tensor: Tensor) throws -> (values: [Float], width: Int, height: Int) {
        let values = try tensor.contiguous().toFloatArray()
        switch tensor.rank {
        case 1: return (values, tensor.shape[0], 1)
        case 2: return (values, tensor.shape[1], tensor.shape[0])
        case 3:
            let (channels, height, width) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
            var plane = [Float](repeating: 0, count: height * width)
            for c in 0..<channels { for i in 0..<(height * width) { plane[i] += values[c * height * width + i] } }
            return (plane, width, height)
        default:
            throw CortexError.shapeMismatch(operation: "Heatmap", shapes: [tensor.shape], reason: "(one example's map: (W), (H, W) or (C, H, W))")
        }
    }

    /// Values scaled into the colormap's range: signed by the largest magnitude, unsigned by the
    /// largest value; the top `clipPercentile` share of magnitudes saturates (Captum clips at 98%).
    public static func normalized(_ values: [Float], colormap: Colormap, clipPercentile: Float = 0.99) -> [Float] {
        let magnitudes = values.map { colormap.isSigned ? Swift.abs($0) : Swift.max($0, 0) }.sorted()
        guard let largest = magnitudes.last, largest > 0 else { return values.map { _ in 0 } }
        let index = Swift.min(magnitudes.count - 1, Swift.max(0, Int((Float(magnitudes.count - 1) * clipPercentile).rounded())))
        let bound = magnitudes[index] > 0 ? magnitudes[index] : largest
        return values.map { colormap.isSigned ? $0 / bound : Swift.max($0, 0) / bound }
    }

    /// The map alone, one pixel per value, `scale` times enlarged.
    public static func image(_ map: Tensor, colormap: Colormap = .diverging, scale: Int = 1) throws -> RGBImage {
        let (values, width, height) = try plane(map)
        let scaled = normalized(values, colormap: colormap)
        var image = RGBImage(width: width, height: height)
        for index in scaled.indices { image.pixels[index] = colormap.color(scaled[index]) }
        return image.scaled(by: scale)
    }

    /// The input image in grey (channels averaged, scaled to its own range).
    public static func greyscale(_ input: Tensor, scale: Int = 1) throws -> RGBImage {
        let (values, width, height) = try plane(input)
        let (low, high) = (values.min() ?? 0, values.max() ?? 1)
        var image = RGBImage(width: width, height: height)
        for index in values.indices { image.pixels[index] = Colormap.grey.color(high > low ? (values[index] - low) / (high - low) : 0) }
        return image.scaled(by: scale)
    }

    /// The map blended over the grey input: transparent where the map is zero.
    public static func overlay(image input: Tensor, attribution map: Tensor, colormap: Colormap = .diverging, scale: Int = 1) throws -> RGBImage {
        let (values, width, height) = try plane(map)
        let base = try greyscale(input)
        guard base.width == width, base.height == height else {
            throw CortexError.shapeMismatch(operation: "Heatmap.overlay", shapes: [input.shape, map.shape], reason: "(the map and the image differ in size)")
        }
        let scaled = normalized(values, colormap: colormap)
        var image = base
        for index in scaled.indices {
            let strength = Swift.min(1, Swift.abs(scaled[index]))
            image.pixels[index] = base.pixels[index].mixed(with: colormap.color(scaled[index]), 0.75 * strength)
        }
        return image.scaled(by: scale)
    }

    /// Input | map | map over input, side by side.
    public static func panel(image input: Tensor, attribution map: Tensor, colormap: Colormap = .diverging, scale: Int = 8) throws -> RGBImage {
        RGBImage.row([try greyscale(input, scale: scale), try image(map, colormap: colormap, scale: scale),
                      try overlay(image: input, attribution: map, colormap: colormap, scale: scale)], gap: 2 * scale)
    }
}

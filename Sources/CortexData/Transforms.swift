import CortexCore
import Foundation

/// Batch transforms for image data (N, C, H, W), for a ``DataLoader``'s `transform`. Random
/// ones draw from the loader's per-epoch generator, so augmentation is reproducible.
///
/// ```swift
/// let augment = Transforms.compose([
///     Transforms.randomCrop(size: 32, padding: 4), Transforms.horizontalFlip(), Transforms.normalize(mean: [0.49, 0.48, 0.45], standardDeviation: [0.25, 0.24, 0.26]),
/// ])
/// let loader = DataLoader(train, batchSize: 128, shuffle: true, seed: 0, transform: augment)
/// ```
public enum Transforms {
    public typealias Transform = @Sendable (Batch, RandomGenerator) throws -> Batch

    /// Applies transforms in order.
    public static func compose(_ transforms: [Transform]) -> Transform {
        { batch, generator in try transforms.reduce(batch) { try $1($0, generator) } }
    }

    static func requireImages(_ batch: Batch, _ operation: String) throws -> (Int, Int, Int, Int) {
        let shape = batch.inputs.shape
        guard shape.count == 4 else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [shape], reason: "images must be (N, C, H, W)")
        }
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// (x - mean[c]) / std[c] per channel.
    public static func normalize(mean: [Float], standardDeviation: [Float]) -> Transform {
        { batch, _ in
            let (_, channels, _, _) = try requireImages(batch, "normalize")
            guard mean.count == channels, standardDeviation.count == channels, standardDeviation.allSatisfy({ $0 != 0 }) else {
                throw CortexError.invalidArgument(operation: "normalize", reason: "need \(channels) means and non-zero deviations, got \(mean) and \(standardDeviation)")
            }
            let shift = try Tensor(mean, shape: [1, channels, 1, 1]), scale = try Tensor(standardDeviation.map { 1 / $0 }, shape: [1, channels, 1, 1])
            return Batch(inputs: try (batch.inputs - shift) * scale, targets: batch.targets)
        }
    }

    /// Runs `body` over each image's pixels (host copy), writing a new batch.
    static func mapImages(_ batch: Batch, _ body: (_ image: UnsafeMutableBufferPointer<Float>, _ index: Int) throws -> Void) throws -> Batch {
        var values = try batch.inputs.contiguous().toFloatArray()
        let imageSize = batch.inputs.shape.dropFirst().reduce(1, *)
        try values.withUnsafeMutableBufferPointer { buffer in
            for index in 0..<batch.count {
                try body(UnsafeMutableBufferPointer(rebasing: buffer[(index * imageSize)..<((index + 1) * imageSize)]), index)
            }
        }
        return Batch(inputs: try Tensor(values, shape: batch.inputs.shape), targets: batch.targets)
    }

    /// Pads each image with zeros by `padding` and crops a random `size` x `size` window, as
    /// torchvision's RandomCrop; the batch becomes (N, C, size, size).
    public static func randomCrop(size: Int, padding: Int = 0) -> Transform {
        { batch, generator in
            let (count, channels, height, width) = try requireImages(batch, "randomCrop")
            let paddedHeight = height + 2 * padding, paddedWidth = width + 2 * padding
            guard size > 0, padding >= 0, size <= paddedHeight, size <= paddedWidth else {
                throw CortexError.invalidArgument(operation: "randomCrop", reason: "crop \(size) with padding \(padding) does not fit \(height)x\(width) images")
            }
            let source = try batch.inputs.contiguous().toFloatArray()
            var output = [Float](repeating: 0, count: count * channels * size * size)
            for index in 0..<count {
                let top = generator.integer(below: paddedHeight - size + 1) - padding
                let left = generator.integer(below: paddedWidth - size + 1) - padding
                for channel in 0..<channels {
                    let plane = index * channels + channel
                    for row in 0..<size where row + top >= 0 && row + top < height {
                        for column in 0..<size where column + left >= 0 && column + left < width {
                            output[(plane * size + row) * size + column] = source[(plane * height + row + top) * width + column + left]
                        }
                    }
                }
            }
            return Batch(inputs: try Tensor(output, shape: [count, channels, size, size]), targets: batch.targets)
        }
    }

    /// Mirrors each image left-right with probability `probability`.
    public static func horizontalFlip(probability: Float = 0.5) -> Transform {
        { batch, generator in
            let (_, channels, height, width) = try requireImages(batch, "horizontalFlip")
            let draws = generator.uniformFloats(batch.count)
            return try mapImages(batch) { image, index in
                guard draws[index] < probability else { return }
                for line in 0..<(channels * height) {
                    var left = line * width, right = left + width - 1
                    while left < right { image.swapAt(left, right); left += 1; right -= 1 }
                }
            }
        }
    }

    /// Rotates each image by a random angle in [-degrees, degrees] about its centre (bilinear,
    /// zero outside).
    public static func randomRotation(degrees: Float) -> Transform {
        { batch, generator in
            let (_, channels, height, width) = try requireImages(batch, "randomRotation")
            let angles = generator.uniformFloats(batch.count).map { ($0 * 2 - 1) * degrees * .pi / 180 }
            return try mapImages(batch) { image, index in
                let source = Array(image)
                let cosine = cos(angles[index]), sine = sin(angles[index])
                let centerY = Float(height - 1) / 2, centerX = Float(width - 1) / 2
                for row in 0..<height {
                    for column in 0..<width {
                        // Inverse mapping: where in the source does this output pixel come from?
                        let dy = Float(row) - centerY, dx = Float(column) - centerX
                        let sourceY = cosine * dy + sine * dx + centerY, sourceX = -sine * dy + cosine * dx + centerX
                        let y0 = Int(sourceY.rounded(.down)), x0 = Int(sourceX.rounded(.down))
                        let fy = sourceY - Float(y0), fx = sourceX - Float(x0)
                        for channel in 0..<channels {
                            func pixel(_ y: Int, _ x: Int) -> Float {
                                y >= 0 && y < height && x >= 0 && x < width ? source[(channel * height + y) * width + x] : 0
                            }
                            let top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
                            let bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
                            image[(channel * height + row) * width + column] = top * (1 - fy) + bottom * fy
                        }
                    }
                }
            }
        }
    }

    /// With probability `probability`, sets a random rectangle (2-33% of the area, aspect ratio
    /// 0.3-3.3) of each image to `value`, as torchvision's RandomErasing.
    public static func randomErasing(probability: Float = 0.5, value: Float = 0) -> Transform {
        { batch, generator in
            let (_, channels, height, width) = try requireImages(batch, "randomErasing")
            return try mapImages(batch) { image, _ in
                guard generator.uniformFloats(1)[0] < probability else { return }
                for _ in 0..<10 {
                    let draws = generator.uniformFloats(2)
                    let area = Float(height * width) * (0.02 + draws[0] * 0.31)
                    let ratio = exp(log(Float(0.3)) + draws[1] * (log(Float(3.3)) - log(Float(0.3))))
                    let eraseHeight = Int((area * ratio).squareRoot().rounded()), eraseWidth = Int((area / ratio).squareRoot().rounded())
                    guard eraseHeight > 0, eraseWidth > 0, eraseHeight < height, eraseWidth < width else { continue }
                    let top = generator.integer(below: height - eraseHeight + 1), left = generator.integer(below: width - eraseWidth + 1)
                    for channel in 0..<channels {
                        for row in top..<(top + eraseHeight) {
                            for column in left..<(left + eraseWidth) { image[(channel * height + row) * width + column] = value }
                        }
                    }
                    return
                }
            }
        }
    }
}

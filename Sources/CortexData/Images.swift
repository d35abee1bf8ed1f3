import CCortexImage
import CZlib
import CortexCore
import Foundation

/// An 8-bit image: `height` rows of `width` pixels of `channels` samples (1 gray, 3 RGB),
/// row-major.
public struct Image: Sendable, Equatable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, [1, 2, 3, 4].contains(channels), pixels.count == width * height * channels else {
            throw CortexError.invalidArgument(operation: "Image", reason: "\(pixels.count) samples do not make a \(width)x\(height) image of \(channels) channels")
        }
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }

    /// Reads a PNG or JPEG file (told apart by their signatures, not the name), decoded as
    /// Pillow's `Image.open` decodes it (libpng and libjpeg-turbo underneath): PNG exactly,
    /// JPEG with libjpeg's default accurate DCT and fancy upsampling.
    public static func read(_ path: String) throws -> Image {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        return try decode([UInt8](data), path: path)
    }

    /// Decodes PNG or JPEG bytes; `path` names them in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> Image {
        let isPNG = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), isJPEG = bytes.starts(with: [0xFF, 0xD8])
        guard isPNG || isJPEG else {
            throw CortexError.invalidFile(path: path, reason: "is neither a PNG nor a JPEG (it starts with \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined()))")
        }
        var decoded = cortex_image()
        let status = bytes.withUnsafeBufferPointer { buffer in
            isPNG ? cortex_png_decode(buffer.baseAddress, buffer.count, &decoded) : cortex_jpeg_decode(buffer.baseAddress, buffer.count, &decoded)
        }
        defer { cortex_image_free(&decoded) }
        guard status == 0, let pixels = decoded.pixels else {
            let message = withUnsafeBytes(of: decoded.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw CortexError.invalidFile(path: path, reason: "is a corrupt \(isPNG ? "PNG" : "JPEG"): \(message)")
        }
        let count = Int(decoded.width) * Int(decoded.height) * Int(decoded.channels)
        return try Image(width: Int(decoded.width), height: Int(decoded.height), channels: Int(decoded.channels),
                         pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// The image as gray (1) or RGB (3) as Pillow's `convert("L")` / `convert("RGB")`: alpha
    /// dropped, gray from RGB as ITU-R 601-2 luma in Pillow's fixed point.
    public func converted(channels wanted: Int) throws -> Image {
        guard wanted == 1 || wanted == 3 else {
            throw CortexError.invalidArgument(operation: "Image.converted", reason: "channels must be 1 (gray) or 3 (RGB), got \(wanted)")
        }
        let colour = channels >= 3
        if wanted == channels { return self }
        var out = [UInt8](repeating: 0, count: width * height * wanted)
        for pixel in 0..<(width * height) {
            let base = pixel * channels
            if wanted == 1 {
                if colour {
                    let luma = (UInt32(pixels[base]) * 19595 + UInt32(pixels[base + 1]) * 38470 + UInt32(pixels[base + 2]) * 7471 + 0x8000) >> 16
                    out[pixel] = UInt8(min(luma, 255))
                } else {
                    out[pixel] = pixels[base]
                }
            } else {
                for channel in 0..<3 { out[pixel * 3 + channel] = pixels[base + (colour ? channel : 0)] }
            }
        }
        return try Image(width: width, height: height, channels: wanted, pixels: out)
    }

    /// The image resized to `height` x `width` with Pillow's bilinear filter (a triangle
    /// filter widened by the scale when shrinking, so downscaling averages instead of aliasing),
    /// computed in floating point and rounded.
    public func resized(height newHeight: Int, width newWidth: Int) throws -> Image {
        guard newHeight > 0, newWidth > 0 else {
            throw CortexError.invalidArgument(operation: "Image.resized", reason: "size \(newHeight)x\(newWidth) must be positive")
        }
        if newHeight == height && newWidth == width { return self }
        let horizontal = Image.weights(from: width, to: newWidth), vertical = Image.weights(from: height, to: newHeight)
        var rows = [Float](repeating: 0, count: height * newWidth * channels)
        for row in 0..<height {
            for (column, (first, taps)) in horizontal.enumerated() {
                for channel in 0..<channels {
                    var sum: Float = 0
                    for (offset, weight) in taps.enumerated() { sum += weight * Float(pixels[(row * width + first + offset) * channels + channel]) }
                    rows[(row * newWidth + column) * channels + channel] = sum
                }
            }
        }
        var out = [UInt8](repeating: 0, count: newHeight * newWidth * channels)
        for (row, (first, taps)) in vertical.enumerated() {
            for column in 0..<newWidth {
                for channel in 0..<channels {
                    var sum: Float = 0
                    for (offset, weight) in taps.enumerated() { sum += weight * rows[((first + offset) * newWidth + column) * channels + channel] }
                    out[(row * newWidth + column) * channels + channel] = UInt8(max(0, min(255, sum.rounded())))
                }
            }
        }
        return try Image(width: newWidth, height: newHeight, channels: channels, pixels: out)
    }

    /// Pillow's resampling taps for the bilinear (triangle) filter: for each output position,
    /// the first input index and the normalised weights.
    static func weights(from input: Int, to output: Int) -> [(Int, [Float])] {
        let scale = Double(input) / Double(output), support = max(scale, 1)
        return (0..<output).map { index in
            let centre = (Double(index) + 0.5) * scale
            let first = max(Int((centre - support + 0.5).rounded(.down)), 0), last = min(Int((centre + support + 0.5).rounded(.down)), input)
            var taps = (first..<max(last, first + 1)).map { source in max(0, 1 - abs((Double(source) - centre + 0.5) / support)) }
            let total = taps.reduce(0, +)
            if total > 0 { taps = taps.map { $0 / total } }
            return (first, taps.map(Float.init))
        }
    }

    /// The centre `height` x `width` window (torchvision's CenterCrop, which rounds the offsets).
    public func centreCropped(height newHeight: Int, width newWidth: Int) throws -> Image {
        guard newHeight > 0, newWidth > 0, newHeight <= height, newWidth <= width else {
            throw CortexError.invalidArgument(operation: "Image.centreCropped", reason: "a \(newHeight)x\(newWidth) crop does not fit a \(height)x\(width) image")
        }
        let top = Int((Double(height - newHeight) / 2).rounded()), left = Int((Double(width - newWidth) / 2).rounded())
        var out = [UInt8]()
        out.reserveCapacity(newHeight * newWidth * channels)
        for row in top..<(top + newHeight) {
            out += pixels[((row * width + left) * channels)..<((row * width + left + newWidth) * channels)]
        }
        return try Image(width: newWidth, height: newHeight, channels: channels, pixels: out)
    }

    /// Channels-first floats in [0, 1] (torchvision's ToTensor), shape (channels, height, width).
    public var channelsFirst: [Float] {
        var out = [Float](repeating: 0, count: pixels.count)
        let plane = width * height
        for pixel in 0..<plane {
            for channel in 0..<channels { out[channel * plane + pixel] = Float(pixels[pixel * channels + channel]) / 255 }
        }
        return out
    }

    /// The image as a PNG file: signature, IHDR (8-bit gray, gray and alpha, RGB or RGBA), one
    /// zlib-compressed IDAT of unfiltered rows, IEND.
    public func pngData() throws -> [UInt8] {
        var raw = [UInt8]()
        raw.reserveCapacity(height * (1 + channels * width))
        for row in 0..<height {
            raw.append(0)   // filter type None
            raw += pixels[(row * width * channels)..<((row + 1) * width * channels)]
        }
        var bound = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { compress2(out.baseAddress, &bound, $0.baseAddress, uLong(raw.count), 9) }
        }
        guard status == Z_OK else { throw CortexError.invalidArgument(operation: "Image.pngData", reason: "zlib compress2 failed with \(status)") }
        compressed.removeSubrange(Int(bound)...)
        func bigEndian(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)] }
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let body = Array(type.utf8) + data
            file += bigEndian(UInt32(data.count)) + body
            file += bigEndian(UInt32(body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }))
        }
        let colourType: UInt8 = [1: 0, 2: 4, 3: 2, 4: 6][channels]!
        chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, colourType, 0, 0, 0])
        chunk("IDAT", compressed)
        chunk("IEND", [])
        return file
    }

    /// Writes the image as a PNG file, atomically.
    public func writePNG(to path: String) throws {
        let bytes = try pngData()
        try AtomicFile.write(to: path) { handle in try bytes.withUnsafeBytes { try handle.write($0) } }
    }
}

import CortexCore
import CZlib
import Foundation

/// An 8-bit RGB image, rows top to bottom, written as PNG over zlib.
///
/// ```swift
/// var image = RGBImage(width: 28, height: 28)
/// image[3, 4] = RGB(255, 0, 0)
/// try image.scaled(by: 8).writePNG(to: "red-dot.png")
/// ```
public struct RGBImage: Sendable, Equatable {
    public let width: Int, height: Int
    /// Red, green, blue per pixel, row-major.
    public var pixels: [RGB]

    public init(width: Int, height: Int, fill: RGB = RGB(255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = Array(repeating: fill, count: width * height)
    }

    public subscript(x: Int, y: Int) -> RGB {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// Each pixel repeated `factor` times across and down (nearest neighbour).
    public func scaled(by factor: Int) -> RGBImage {
        guard factor > 1 else { return self }
        var result = RGBImage(width: width * factor, height: height * factor)
        for y in 0..<result.height {
            for x in 0..<result.width { result[x, y] = self[x / factor, y / factor] }
        }
        return result
    }

    /// Images side by side, top-aligned, `gap` pixels of `background` between them.
    public static func row(_ images: [RGBImage], gap: Int = 4, background: RGB = RGB(255, 255, 255)) -> RGBImage {
        let width = images.map(\.width).reduce(0, +) + gap * max(0, images.count - 1)
        var result = RGBImage(width: width, height: images.map(\.height).max() ?? 0, fill: background)
        var left = 0
        for image in images {
            for y in 0..<image.height {
                for x in 0..<image.width { result[left + x, y] = image[x, y] }
            }
            left += image.width + gap
        }
        return result
    }

    /// The PNG file: signature, IHDR (8-bit RGB), one zlib-compressed IDAT, IEND.
    public func pngData() throws -> [UInt8] {
        guard width > 0, height > 0 else {
            throw CortexError.invalidArgument(operation: "RGBImage.pngData", reason: "a \(width)x\(height) image has no pixels")
        }
        var raw = [UInt8](); raw.reserveCapacity(height * (1 + 3 * width))
        for y in 0..<height {
            raw.append(0)   // filter type None
            for x in 0..<width { let p = self[x, y]; raw += [p.red, p.green, p.blue] }
        }
        var bound = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(bound))
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { compress2(out.baseAddress, &bound, $0.baseAddress, uLong(raw.count), 9) }
        }
        guard status == Z_OK else { throw CortexError.invalidArgument(operation: "RGBImage.pngData", reason: "zlib compress2 failed with \(status)") }
        compressed.removeSubrange(Int(bound)...)
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let typeBytes = Array(type.utf8)
            file += bigEndian(UInt32(data.count))
            file += typeBytes
            file += data
            let body = typeBytes + data
            let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            file += bigEndian(UInt32(crc))
        }
        chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0])
        chunk("IDAT", compressed)
        chunk("IEND", [])
        return file
    }

    /// Writes the PNG atomically.
    public func writePNG(to path: String) throws {
        let bytes = try pngData()
        try AtomicFile.write(to: path) { handle in try bytes.withUnsafeBytes { try handle.write($0) } }
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// One 8-bit colour.
public struct RGB: Sendable, Equatable, Hashable {
    public var red: UInt8, green: UInt8, blue: UInt8
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// `#rrggbb`, for SVG and HTML.
    public var hex: String { String(format: "#%02x%02x%02x", red, green, blue) }

    /// (1 - t) · self + t · other.
    public func mixed(with other: RGB, _ t: Float) -> RGB {
        let t = min(max(t, 0), 1)
        func channel(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Float(a) * (1 - t) + Float(b) * t).rounded()) }
        return RGB(channel(red, other.red), channel(green, other.green), channel(blue, other.blue))
    }
}

/// Writes `text` atomically as UTF-8 (SVG, HTML, JSON).
public func writeText(_ text: String, to path: String) throws {
    try AtomicFile.write(to: path) { handle in try Array(text.utf8).withUnsafeBytes { try handle.write($0) } }
}

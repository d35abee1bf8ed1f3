import CortexCore
import CortexData
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

    /// The PNG file (8-bit RGB), written by CortexData's ``Image/pngData()``.
    public func pngData() throws -> [UInt8] {
        guard width > 0, height > 0 else {
            throw CortexError.invalidArgument(operation: "RGBImage.pngData", reason: "a \(width)x\(height) image has no pixels")
        }
        return try Image(width: width, height: height, channels: 3, pixels: pixels.flatMap { [$0.red, $0.green, $0.blue] }).pngData()
    }

    /// Writes the PNG atomically.
    public func writePNG(to path: String) throws {
        let bytes = try pngData()
        try AtomicFile.write(to: path) { handle in try bytes.withUnsafeBytes { try handle.write($0) } }
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

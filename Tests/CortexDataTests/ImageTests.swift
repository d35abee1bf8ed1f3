import CortexCore
import CortexTestSupport
import Foundation
import Testing

@testable import CortexData

/// PNG and JPEG decoding against Pillow (Tools/make_image_fixtures.py), conversions, resizing,
/// and image folders.
@Suite struct ImageTests {
    static let fixtures: String = Bundle.module.url(forResource: "images", withExtension: nil, subdirectory: "Fixtures")!.path
    static let file: Safetensors.File = try! Safetensors.load(Bundle.module.url(forResource: "images", withExtension: "safetensors", subdirectory: "Fixtures")!.path)

    struct Case: Decodable { var width: Int, height: Int, channels: Int, exact: Bool }
    static let cases: [String: Case] = try! JSONDecoder().decode([String: Case].self, from: Data(file.metadata["cases"]!.utf8))

    /// PNG pixels equal Pillow's exactly; JPEG pixels within ±1 (both libjpeg-turbo, accurate
    /// DCT and fancy upsampling, perhaps different versions).
    @Test(arguments: cases.keys.sorted())
    func decodesAsPillowDoes(_ name: String) throws {
        let expected = ImageTests.cases[name]!
        let image = try Image.read(ImageTests.fixtures + "/" + name)
        #expect(image.width == expected.width && image.height == expected.height && image.channels == expected.channels)
        let reference = try ImageTests.file.tensor("\(name).pixels").toFloatArray()
        let largest = zip(image.pixels, reference).map { Swift.abs(Float($0) - $1) }.max() ?? .infinity
        #expect(reference.count == image.pixels.count && largest <= (expected.exact ? 0 : 1), "\(name): largest difference \(largest)")
    }

    @Test func grayFromRGBIsPillowsLuma() throws {
        let gray = try Image.read(ImageTests.fixtures + "/rgb.png").converted(channels: 1)
        let luma = try ImageTests.file.tensor("rgb.png.luma").toFloatArray()
        #expect(gray.pixels.map(Float.init) == luma)
        let rgb = try Image.read(ImageTests.fixtures + "/gray.png").converted(channels: 3)
        #expect(rgb.channels == 3 && rgb.pixels[0] == rgb.pixels[1] && rgb.pixels[1] == rgb.pixels[2])
    }

    /// Pillow's bilinear filter (widened when shrinking): within ±1 of Pillow's fixed point.
    @Test(arguments: [(5, 7), (26, 30)])
    func resizesAsPillowsBilinear(_ height: Int, _ width: Int) throws {
        let resized = try Image.read(ImageTests.fixtures + "/gray.png").resized(height: height, width: width)
        let reference = try ImageTests.file.tensor("gray.png.resized.\(height)x\(width)").toFloatArray()
        let largest = zip(resized.pixels, reference).map { Swift.abs(Float($0) - $1) }.max() ?? .infinity
        #expect(resized.pixels.count == reference.count && largest <= 1, "largest difference \(largest)")
    }

    @Test func corruptFilesAreTypedErrorsNamingTheFile() throws {
        for (name, words) in [("truncated.png", "corrupt PNG"), ("truncated.jpg", "corrupt JPEG"), ("not-an-image.png", "neither a PNG nor a JPEG")] {
            do {
                _ = try Image.read(ImageTests.fixtures + "/" + name)
                Issue.record("\(name) decoded")
            } catch let error as CortexError {
                #expect(error.description.contains(name) && error.description.contains(words), "\(error)")
            }
        }
    }

    @Test func pngRoundTripsThroughTheEncoder() throws {
        for channels in [1, 2, 3, 4] {
            let pixels = (0..<(6 * 5 * channels)).map { UInt8(($0 * 37) % 256) }
            let image = try Image(width: 6, height: 5, channels: channels, pixels: pixels)
            #expect(try Image.decode(image.pngData(), path: "memory") == image)
        }
    }

    /// Class folders in sorted order, images converted, resized and centre-cropped; an empty
    /// class folder and an unknown class are errors naming the folder.
    @Test func imageFolderReadsClassFolders() throws {
        let root = temporaryDirectory("cortex-image-folder")
        for (folder, count) in [("cat", 3), ("ant", 2)] {
            try FileManager.default.createDirectory(atPath: root + "/train/" + folder, withIntermediateDirectories: true)
            for index in 0..<count {
                let pixels = (0..<(10 * 8 * 3)).map { UInt8(($0 + index * 11 + (folder == "cat" ? 100 : 0)) % 256) }
                try Image(width: 8, height: 10, channels: 3, pixels: pixels).writePNG(to: root + "/train/\(folder)/\(index).png")
            }
        }
        try "notes".write(toFile: root + "/train/cat/readme.txt", atomically: true, encoding: .utf8)
        let folder = try ImageFolder(root: root + "/train", channels: 1, size: (12, 12), centreCrop: (8, 8))
        let labels = try folder.classLabels()
        #expect(folder.classes == ["ant", "cat"] && folder.count == 5 && labels == [0, 0, 1, 1, 1])
        let batch = try folder.batch([0, 4])
        let targets = try batch.targets.toIntArray()
        #expect(batch.inputs.shape == [2, 1, 8, 8] && targets == [0, 1])
        let values = try batch.inputs.toFloatArray()
        #expect(values.allSatisfy { $0 >= 0 && $0 <= 1 })
        let direct = try Image.read(root + "/train/ant/0.png").converted(channels: 1).resized(height: 12, width: 12).centreCropped(height: 8, width: 8)
        #expect(Array(values[0..<64]) == direct.channelsFirst)

        try FileManager.default.createDirectory(atPath: root + "/train/dog", withIntermediateDirectories: true)
        do {
            _ = try ImageFolder(root: root + "/train")
            Issue.record("an empty class folder was accepted")
        } catch let error as CortexError {
            #expect(error.description.contains("train/dog") && error.description.contains("empty class folder"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: root + "/train/dog")
        #expect(throws: CortexError.self) { try ImageFolder(root: root + "/train", classes: ["ant"]) }
        #expect(throws: CortexError.self) { try ImageFolder(root: root + "/missing") }
        // Images of different sizes need a size to be resized to.
        try Image(width: 5, height: 5, channels: 3, pixels: Array(repeating: 9, count: 75)).writePNG(to: root + "/train/ant/odd.png")
        #expect(throws: CortexError.self) { try ImageFolder(root: root + "/train").batch([0, 1, 2]) }
    }
}

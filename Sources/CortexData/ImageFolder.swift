import CortexCore
import Foundation

/// Images in one subfolder per class (`root/<class>/<file>.png|jpg|jpeg`), as torchvision's
/// `ImageFolder`: classes are the subfolder names in sorted order, labelled 0, 1, ...; files are
/// decoded (``Image``) when their batch is read, converted to gray or RGB, resized and
/// centre-cropped if asked, and given as channels-first floats in [0, 1].
///
/// ```swift
/// let train = try ImageFolder(root: "photos/train", channels: 3, size: (64, 64))
/// let loader = DataLoader(train, batchSize: 32, shuffle: true, seed: 0,
///                         transform: Transforms.compose([Transforms.randomCrop(size: 56), Transforms.horizontalFlip()]))
/// ```
public struct ImageFolder: Dataset, ClassLabelled {
    /// The file name endings read (case-insensitive).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    public let root: String
    /// Class names, sorted; a label is an index into this list.
    public let classes: [String]
    /// Every image file and its label, class by class, files in sorted order.
    public let samples: [(path: String, label: Int)]
    /// 1 (gray, Pillow's "L") or 3 (RGB).
    public let channels: Int
    /// The size every image is resized to (height, width); nil: images must all have one size.
    public let size: (height: Int, width: Int)?
    /// A centre crop taken after resizing (torchvision's Resize then CenterCrop); nil: none.
    public let centreCrop: (height: Int, width: Int)?

    /// Lists `root`'s class folders. `classes` fixes the class list (a test folder read with the
    /// training folder's classes); a folder of another name is then an error.
    public init(root: String, channels: Int = 3, size: (height: Int, width: Int)? = nil, centreCrop: (height: Int, width: Int)? = nil,
                classes: [String]? = nil) throws {
        guard channels == 1 || channels == 3 else {
            throw CortexError.invalidArgument(operation: "ImageFolder", reason: "channels must be 1 (gray) or 3 (RGB), got \(channels)")
        }
        if let size, size.height <= 0 || size.width <= 0 {
            throw CortexError.invalidArgument(operation: "ImageFolder", reason: "size \(size.height)x\(size.width) must be positive")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CortexError.io(path: root, reason: "is not a directory of class folders")
        }
        let manager = FileManager.default
        let found = try manager.contentsOfDirectory(atPath: root).filter { name in
            var folder: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: root + "/" + name, isDirectory: &folder) && folder.boolValue
        }.sorted()
        guard !found.isEmpty else { throw CortexError.invalidFile(path: root, reason: "holds no class folders (expected root/<class>/<image>)") }
        let names = classes ?? found
        if let classes, let stranger = found.first(where: { !classes.contains($0) }) {
            throw CortexError.invalidFile(path: root + "/" + stranger, reason: "is a class the model does not know (its classes: \(classes.joined(separator: ", ")))")
        }
        var samples: [(String, Int)] = []
        for name in found {
            let folder = root + "/" + name
            let files = try manager.contentsOfDirectory(atPath: folder)
                .filter { !$0.hasPrefix(".") && ImageFolder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !files.isEmpty else {
                throw CortexError.invalidFile(path: folder, reason: "is an empty class folder: it holds no .png, .jpg or .jpeg file")
            }
            let label = names.firstIndex(of: name)!
            samples += files.map { (folder + "/" + $0, label) }
        }
        if let centreCrop, let size, centreCrop.height > size.height || centreCrop.width > size.width {
            throw CortexError.invalidArgument(operation: "ImageFolder", reason: "a \(centreCrop.height)x\(centreCrop.width) centre crop does not fit \(size.height)x\(size.width) images")
        }
        (self.root, self.classes, self.samples, self.channels, self.size, self.centreCrop) = (root, names, samples, channels, size, centreCrop)
    }

    public var count: Int { samples.count }

    public func classLabels() throws -> [Int] { samples.map(\.label) }

    /// One image as the dataset gives it: decoded, converted, resized, cropped.
    public func image(at index: Int) throws -> Image {
        guard samples.indices.contains(index) else { throw CortexError.indexOutOfRange(operation: "ImageFolder", index: index, bound: samples.count) }
        var image = try Image.read(samples[index].path).converted(channels: channels)
        if let size { image = try image.resized(height: size.height, width: size.width) }
        if let centreCrop { image = try image.centreCropped(height: centreCrop.height, width: centreCrop.width) }
        return image
    }

    public func batch(_ indices: [Int]) throws -> Batch {
        var values: [Float] = [], shape: (Int, Int)?
        for index in indices {
            let image = try self.image(at: index)
            if let shape, shape != (image.height, image.width) {
                throw CortexError.invalidFile(path: samples[index].path, reason: "is \(image.height)x\(image.width) where the batch's images are \(shape.0)x\(shape.1); give the dataset a size to resize them to")
            }
            shape = (image.height, image.width)
            values += image.channelsFirst
        }
        let (height, width) = shape ?? (centreCrop.map { ($0.height, $0.width) } ?? size.map { ($0.height, $0.width) } ?? (0, 0))
        return Batch(inputs: try Tensor(values, shape: [indices.count, channels, height, width]),
                     targets: try Tensor(integers: indices.map { samples[$0].label }))
    }
}

import Testing
@testable import CortexCore
import CortexTestSupport

/// A backend for another device that forwards every kernel to the CPU backend: if ops and
/// autograd run on it unchanged, the `Backend` protocol is the only seam a real accelerator
/// backend (CUDA, in a later issue) has to fill.
struct MirrorBackend: Backend {
    let device: Device
    let cpu = CPUBackend.shared

    private func tagged(_ storage: Storage) -> Storage {
        Storage(device: device, dtype: storage.dtype, count: storage.count, pointer: storage.pointer, release: .owner(storage))
    }
    private func check(_ storages: Storage...) throws {
        for storage in storages where storage.device != device {
            throw CortexError.deviceMismatch(operation: "mirror", devices: [storage.device.description, device.description])
        }
    }

    func allocate(dtype: DType, count: Int) throws -> Storage { tagged(try cpu.allocate(dtype: dtype, count: count)) }
    func upload(_ bytes: UnsafeRawBufferPointer, dtype: DType, count: Int) throws -> Storage {
        tagged(try cpu.upload(bytes, dtype: dtype, count: count))
    }
    func download(_ storage: Storage, _ layout: Layout, into destination: UnsafeMutableRawPointer) throws {
        try check(storage); try cpu.download(storage, layout, into: destination)
    }
    func copy(_ source: Storage, _ sourceLayout: Layout, to destination: Storage, _ destinationLayout: Layout) throws {
        try check(source, destination); try cpu.copy(source, sourceLayout, to: destination, destinationLayout)
    }
    func fill(_ storage: Storage, _ layout: Layout, with value: Double) throws { try check(storage); try cpu.fill(storage, layout, with: value) }
    func unary(_ operation: UnaryOperation, _ x: Storage, _ xLayout: Layout, into out: Storage) throws {
        try check(x, out); try cpu.unary(operation, x, xLayout, into: out)
    }
    func binary(_ operation: BinaryOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                shape: [Int], into out: Storage) throws {
        try check(a, b, out); try cpu.binary(operation, a, aLayout, b, bLayout, shape: shape, into: out)
    }
    func compare(_ operation: CompareOperation, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                 shape: [Int], into out: Storage) throws {
        try check(a, b, out); try cpu.compare(operation, a, aLayout, b, bLayout, shape: shape, into: out)
    }
    func select(_ condition: Storage, _ conditionLayout: Layout, _ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout,
                shape: [Int], into out: Storage) throws {
        try check(condition, a, b, out); try cpu.select(condition, conditionLayout, a, aLayout, b, bLayout, shape: shape, into: out)
    }
    func reduce(_ operation: ReduceOperation, _ x: Storage, _ xLayout: Layout, axes: [Int], into out: Storage) throws {
        try check(x, out); try cpu.reduce(operation, x, xLayout, axes: axes, into: out)
    }
    func extremeWithIndex(maximum: Bool, _ x: Storage, _ xLayout: Layout, axis: Int, values: Storage, indices: Storage) throws {
        try check(x, values, indices); try cpu.extremeWithIndex(maximum: maximum, x, xLayout, axis: axis, values: values, indices: indices)
    }
    func softmax(_ x: Storage, rows: Int, columns: Int, logarithm: Bool, into out: Storage) throws {
        try check(x, out); try cpu.softmax(x, rows: rows, columns: columns, logarithm: logarithm, into: out)
    }
    func softmaxBackward(output y: Storage, gradient g: Storage, rows: Int, columns: Int, logarithm: Bool, into out: Storage) throws {
        try check(y, g, out); try cpu.softmaxBackward(output: y, gradient: g, rows: rows, columns: columns, logarithm: logarithm, into: out)
    }
    func matmul(_ a: Storage, _ aLayout: Layout, _ b: Storage, _ bLayout: Layout, outputShape: [Int], precision: Autocast.Precision,
                into out: Storage) throws {
        try check(a, b, out); try cpu.matmul(a, aLayout, b, bLayout, outputShape: outputShape, precision: precision, into: out)
    }
    func gather(_ x: Storage, _ xLayout: Layout, axis: Int, index: Storage, _ indexLayout: Layout, into out: Storage) throws {
        try check(x, index, out); try cpu.gather(x, xLayout, axis: axis, index: index, indexLayout, into: out)
    }
    func scatterAdd(into destination: Storage, destinationShape: [Int], axis: Int, index: Storage, _ indexLayout: Layout,
                    source: Storage, _ sourceLayout: Layout) throws {
        try check(destination, index, source)
        try cpu.scatterAdd(into: destination, destinationShape: destinationShape, axis: axis, index: index, indexLayout, source: source, sourceLayout)
    }
    func indexSelect(_ x: Storage, _ xLayout: Layout, axis: Int, indices: Storage, _ indicesLayout: Layout, into out: Storage) throws {
        try check(x, indices, out); try cpu.indexSelect(x, xLayout, axis: axis, indices: indices, indicesLayout, into: out)
    }
    func indexAdd(into destination: Storage, destinationShape: [Int], axis: Int, indices: Storage, _ indicesLayout: Layout,
                  source: Storage, _ sourceLayout: Layout) throws {
        try check(destination, indices, source)
        try cpu.indexAdd(into: destination, destinationShape: destinationShape, axis: axis, indices: indices, indicesLayout, source: source, sourceLayout)
    }
    func triangle(_ x: Storage, _ xLayout: Layout, diagonal: Int, upper: Bool, into out: Storage) throws {
        try check(x, out); try cpu.triangle(x, xLayout, diagonal: diagonal, upper: upper, into: out)
    }
    func im2col(_ x: Storage, _ xLayout: Layout, geometry: ConvolutionGeometry, into out: Storage, _ outLayout: Layout) throws {
        try check(x, out); try cpu.im2col(x, xLayout, geometry: geometry, into: out, outLayout)
    }
    func col2im(_ columns: Storage, _ columnsLayout: Layout, geometry: ConvolutionGeometry, into out: Storage) throws {
        try check(columns, out); try cpu.col2im(columns, columnsLayout, geometry: geometry, into: out)
    }
    func maxPool2d(_ x: Storage, _ xLayout: Layout, geometry: ConvolutionGeometry, values: Storage, indices: Storage) throws {
        try check(x, values, indices); try cpu.maxPool2d(x, xLayout, geometry: geometry, values: values, indices: indices)
    }
    func maxPool2dBackward(gradient: Storage, _ gradientLayout: Layout, indices: Storage, geometry: ConvolutionGeometry,
                           into out: Storage) throws {
        try check(gradient, indices, out)
        try cpu.maxPool2dBackward(gradient: gradient, gradientLayout, indices: indices, geometry: geometry, into: out)
    }
}

@Suite struct DeviceSeamTests {
    static let mirror = Device.cuda(7)

    init() {
        Backends.registerCUDA { device in
            guard device == DeviceSeamTests.mirror else {
                throw CortexError.deviceUnavailable(device: device.description, reason: "only the test mirror device is registered")
            }
            return MirrorBackend(device: device)
        }
    }

    @Test func opsAndAutogradRunOnAnotherBackendUnchanged() throws {
        let generator = RandomGenerator(seed: 11)
        let x = try Tensor.randn([4, 6], generator: generator), w = try Tensor.randn([6, 3], generator: generator)
        let labels = try Tensor(integers: [0, 2, 1, 2])
        func loss(_ x: Tensor, _ w: Tensor, _ labels: Tensor) throws -> Tensor {
            let logits = try x.matmul(w).gelu().pad([0, 1]).transpose(0, 1).contiguous().transpose(0, 1)
            let picked = try logits.logSoftmax(axis: -1).gather(axis: 1, index: labels.unsqueeze(1))
            return try -picked.mean() + logits.variance() * 0.1
        }
        let cpuW = try w.requiringGrad()
        let cpuLoss = try loss(x, cpuW, labels)
        try cpuLoss.backward()

        let mirrorW = try w.to(DeviceSeamTests.mirror).requiringGrad()
        let mirrorLoss = try loss(x.to(DeviceSeamTests.mirror), mirrorW, labels.to(DeviceSeamTests.mirror))
        try mirrorLoss.backward()
        #expect(mirrorLoss.device == DeviceSeamTests.mirror && mirrorW.grad!.device == DeviceSeamTests.mirror)
        #expect(try closenessFailure(mirrorLoss.to(.cpu), cpuLoss) == nil)
        #expect(try closenessFailure(mirrorW.grad!.to(.cpu), cpuW.grad!) == nil)
    }

    @Test func mixingDevicesIsATypedError() throws {
        let here = try Tensor.ones([2]), there = try Tensor.ones([2]).to(DeviceSeamTests.mirror)
        #expect(throws: CortexError.deviceMismatch(operation: "add", devices: ["cpu", "cuda:7"])) { _ = try here + there }
    }
}

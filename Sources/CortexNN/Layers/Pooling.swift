import CortexCore

/// Average pooling windows of an (N, C, H, W) input as (N, C, kh*kw, L), zero padding
/// included (im2col pads with zeros); the gradient flows back through im2col.
func averagePoolingWindows(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int))
    throws -> (windows: Tensor, outputHeight: Int, outputWidth: Int) {
    guard input.rank == 4 else {
        throw CortexError.shapeMismatch(operation: "AvgPool2d", shapes: [input.shape], reason: "must be (N, C, H, W)")
    }
    guard padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
        throw CortexError.invalidArgument(operation: "AvgPool2d", reason: "padding \(padding) must be at most half the kernel \(kernel)")
    }
    let (batch, channels) = (input.shape[0], input.shape[1])
    // Channels are independent: fold them into the batch so each window column holds one channel.
    let planes = try input.reshape([batch * channels, 1, input.shape[2], input.shape[3]])
    let columns = try planes.im2col(kernel: kernel, stride: stride, padding: padding)
    let outputHeight = (input.shape[2] + 2 * padding.0 - kernel.0) / stride.0 + 1
    let outputWidth = (input.shape[3] + 2 * padding.1 - kernel.1) / stride.1 + 1
    return (try columns.reshape([batch, channels, kernel.0 * kernel.1, outputHeight * outputWidth]), outputHeight, outputWidth)
}

/// Max pooling over (N, C, H, W), as `nn.MaxPool2d` (stride defaults to the kernel size;
/// padding counts as -inf). The gradient goes to the first maximum of each window.
public final class MaxPool2d: Module, Layer, @unchecked Sendable {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        super.init()
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4 else {
            throw CortexError.shapeMismatch(operation: "MaxPool2d", shapes: [input.shape], reason: "must be (N, C, H, W)")
        }
        return try input.maxPool2d(kernel: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }
}

/// Average pooling over (N, C, H, W), as `nn.AvgPool2d` with `count_include_pad=True`
/// (zero padding counts toward the average).
public final class AvgPool2d: Module, Layer, @unchecked Sendable {
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)

    public init(kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        super.init()
    }

    public convenience init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.init(kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        let (windows, height, width) = try averagePoolingWindows(input, kernel: kernelSize, stride: stride, padding: padding)
        return try windows.mean(axes: [2]).reshape([input.shape[0], input.shape[1], height, width])
    }
}

/// Average pooling to a fixed output size, as `nn.AdaptiveAvgPool2d`: output cell (i, j)
/// averages rows floor(i H / oh) ..< ceil((i + 1) H / oh) and likewise for columns.
public final class AdaptiveAvgPool2d: Module, Layer, @unchecked Sendable {
    public let outputSize: (Int, Int)

    public init(outputSize: (Int, Int)) {
        self.outputSize = outputSize
        super.init()
    }

    public convenience init(_ outputSize: Int) { self.init(outputSize: (outputSize, outputSize)) }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4, outputSize.0 > 0, outputSize.1 > 0 else {
            throw CortexError.shapeMismatch(operation: "AdaptiveAvgPool2d", shapes: [input.shape],
                                            reason: "must be (N, C, H, W) with a positive output size \(outputSize)")
        }
        let (height, width) = (input.shape[2], input.shape[3])
        if height % outputSize.0 == 0 && width % outputSize.1 == 0 {
            let kernel = (height / outputSize.0, width / outputSize.1)
            return try AvgPool2d(kernelSize: kernel)(input)
        }
        func bounds(_ index: Int, _ size: Int, _ output: Int) -> (Int, Int) {
            (index * size / output, ((index + 1) * size + output - 1) / output)
        }
        var rows: [Tensor] = []
        for i in 0..<outputSize.0 {
            let (top, bottom) = bounds(i, height, outputSize.0)
            var cells: [Tensor] = []
            for j in 0..<outputSize.1 {
                let (left, right) = bounds(j, width, outputSize.1)
                let cell = try input.slice(axis: 2, start: top, end: bottom).slice(axis: 3, start: left, end: right)
                cells.append(try cell.mean(axes: [2, 3]))
            }
            rows.append(try Tensor.stack(cells, axis: 2))
        }
        return try Tensor.stack(rows, axis: 2)
    }
}

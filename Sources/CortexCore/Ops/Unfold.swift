/// im2col and col2im, PyTorch's `F.unfold` and `F.fold`: the sliding windows of an
/// (N, C, H, W) image as columns of an (N, C*kh*kw, L) matrix, so a convolution is one matmul.
/// Each is the other's gradient.
extension Tensor {
    static func geometry(_ operation: String, inputShape: [Int], kernel: (Int, Int), stride: (Int, Int),
                         padding: (Int, Int), dilation: (Int, Int)) throws -> ConvolutionGeometry {
        guard inputShape.count == 4 else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [inputShape], reason: "image must be (N, C, H, W)")
        }
        guard kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0,
              padding.0 >= 0, padding.1 >= 0 else {
            throw CortexError.invalidArgument(operation: operation, reason: "kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive and padding \(padding) non-negative")
        }
        let geometry = ConvolutionGeometry(batch: inputShape[0], channels: inputShape[1], height: inputShape[2], width: inputShape[3],
                                           kernelHeight: kernel.0, kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1,
                                           paddingHeight: padding.0, paddingWidth: padding.1,
                                           dilationHeight: dilation.0, dilationWidth: dilation.1)
        guard geometry.outputHeight > 0, geometry.outputWidth > 0 else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [inputShape],
                                            reason: "is too small for kernel \(kernel) with dilation \(dilation) and padding \(padding)")
        }
        return geometry
    }

    /// (N, C, H, W) -> (N, C*kh*kw, L) sliding windows.
    ///
    /// With `foldingBatch` the columns lie in memory as (C*kh*kw, N, L): the result, still shaped
    /// (N, C*kh*kw, L), is a permuted view, and `permute([1, 0, 2]).reshape([-1, N * L])` is the
    /// whole batch as one matrix at no cost (one product for a batch's convolution).
    public func im2col(kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), foldingBatch: Bool = false) throws -> Tensor {
        try requireFloat32("im2col")
        let geometry = try Tensor.geometry("im2col", inputShape: shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        var output = try Tensor.empty(geometry.columnsShape, device: device)
        if foldingBatch {
            let (batch, length) = (geometry.columnsShape[0], geometry.columnsShape[2])
            output = output.view(Layout(shape: geometry.columnsShape, strides: [length, batch * length, 1], offset: 0))
        }
        try backend.im2col(storage, layout, geometry: geometry, into: output.storage, output.layout)
        return output.recorded("im2col", [self]) { gradient in
            [try gradient.col2im(outputSize: (geometry.height, geometry.width), kernel: kernel, stride: stride,
                                 padding: padding, dilation: dilation)]
        }
    }

    /// (N, C*kh*kw, L) columns summed back into an (N, C, H, W) image of `outputSize`.
    public func col2im(outputSize: (Int, Int), kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1)) throws -> Tensor {
        try requireFloat32("col2im")
        guard rank == 3, kernel.0 > 0, kernel.1 > 0, shape[1] % (kernel.0 * kernel.1) == 0 else {
            throw CortexError.shapeMismatch(operation: "col2im", shapes: [shape],
                                            reason: "must be (N, C*\(kernel.0)*\(kernel.1), L)")
        }
        let channels = shape[1] / (kernel.0 * kernel.1)
        let imageShape = [shape[0], channels, outputSize.0, outputSize.1]
        let geometry = try Tensor.geometry("col2im", inputShape: imageShape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        guard geometry.columnsShape == shape else {
            throw CortexError.shapeMismatch(operation: "col2im", shapes: [shape, geometry.columnsShape],
                                            reason: "(columns and the windows of a \(outputSize) image) differ")
        }
        let output = try Tensor.empty(imageShape, device: device)
        try backend.col2im(storage, layout, geometry: geometry, into: output.storage)
        return output.recorded("col2im", [self]) { gradient in
            [try gradient.im2col(kernel: kernel, stride: stride, padding: padding, dilation: dilation)]
        }
    }

    /// Max pooling of (N, C, H, W) with padding that never wins, as `F.max_pool2d`; the gradient
    /// goes to each window's maximum.
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          dilation: (Int, Int) = (1, 1)) throws -> Tensor {
        try requireFloat32("maxPool2d")
        let stride = stride ?? kernel
        let geometry = try Tensor.geometry("maxPool2d", inputShape: shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        guard padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
            throw CortexError.invalidArgument(operation: "maxPool2d", reason: "padding \(padding) must be at most half the kernel \(kernel)")
        }
        let outputShape = [geometry.batch, geometry.channels, geometry.outputHeight, geometry.outputWidth]
        let values = try Tensor.empty(outputShape, device: device)
        let indices = try Tensor.empty(outputShape, dtype: .int64, device: device)
        try backend.maxPool2d(storage, layout, geometry: geometry, values: values.storage, indices: indices.storage)
        FLOPCounter.record(.pooling, values.count * kernel.0 * kernel.1)
        let inputShape = shape
        return values.recorded("maxPool2d", [self]) { gradient in
            let result = try Tensor.empty(inputShape, device: gradient.device)
            try result.backend.maxPool2dBackward(gradient: gradient.storage, gradient.layout, indices: indices.storage,
                                                 geometry: geometry, into: result.storage)
            return [result]
        }
    }
}

import CortexCore

/// A layer that can give the gradient of each example's loss with respect to its own
/// parameters, vectorised over the batch, from what it saw in one forward pass: its input and
/// the gradient of its output (Opacus's grad samplers). ``PerSampleGradients`` calls it during
/// backward. Linear, Conv1d, Conv2d, Embedding, LayerNorm, GroupNorm and RMSNorm conform; a
/// custom layer conforms by implementing the one method.
///
/// The batch is axis 0 of both tensors. The result maps each of the layer's own parameter
/// names (as its checkpoint names them: `weight`, `bias`) that requires a gradient to a tensor
/// of shape `[batch] + parameter.shape`.
public protocol PerSampleGradientLayer: Module {
    func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor]
}

extension PerSampleGradientLayer {
    /// `weight`'s and `bias`'s entries for those that exist and require a gradient.
    func trainable(weight: Tensor?, _ weightGradient: () throws -> Tensor, bias: Tensor? = nil,
                   _ biasGradient: (() throws -> Tensor)? = nil) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        if let weight, weight.requiresGrad { result["weight"] = try weightGradient() }
        if let bias, bias.requiresGrad, let biasGradient { result["bias"] = try biasGradient() }
        return result
    }
}

extension Linear: PerSampleGradientLayer {
    /// Weight: the sum over positions of each example's outer products g a^T, (B, out, in);
    /// bias: the output gradient summed over positions.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "Linear")
        let activations = try input.reshape([batch, -1, inFeatures])
        let gradients = try outputGradient.reshape([batch, -1, outFeatures])
        return try trainable(weight: weight, { try PerSampleGradients.outerProductSums(gradients, activations) },
                             bias: bias, { try gradients.sum(axes: [1]) })
    }
}

extension Conv2d: PerSampleGradientLayer {
    /// Weight: each example's output gradient (O, L) times its im2col columns (K, L)^T, one
    /// batched product (per group); bias: the output gradient summed over positions.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "Conv2d")
        let gradients = try outputGradient.reshape([batch, outChannels, -1])
        return try trainable(weight: weight, {
            let columns = try input.im2col(kernel: kernelSize, stride: stride, padding: padding, dilation: dilation)
            return try Conv2d.groupedProducts(gradients, columns, groups: groups).reshape([batch] + weight.shape)
        }, bias: bias, { try gradients.sum(axes: [2]) })
    }

    /// (B, O, L) x (B, K, L)^T -> (B, O / groups, K / groups) per group, joined along axis 1.
    static func groupedProducts(_ gradients: Tensor, _ columns: Tensor, groups: Int) throws -> Tensor {
        guard groups > 1 else { return try gradients.matmul(columns.mT) }
        let (outputs, rows) = (gradients.shape[1] / groups, columns.shape[1] / groups)
        return try Tensor.cat((0..<groups).map { group in
            try gradients.slice(axis: 1, start: group * outputs, end: (group + 1) * outputs)
                .matmul(columns.slice(axis: 1, start: group * rows, end: (group + 1) * rows).mT)
        }, axis: 1)
    }
}

extension Conv1d: PerSampleGradientLayer {
    /// As Conv2d's, over (N, C, 1, L).
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "Conv1d")
        let gradients = try outputGradient.reshape([batch, outChannels, -1])
        return try trainable(weight: weight, {
            let columns = try input.unsqueeze(2).im2col(kernel: (1, kernelSize), stride: (1, stride), padding: (0, padding), dilation: (1, dilation))
            return try Conv2d.groupedProducts(gradients, columns, groups: groups).reshape([batch] + weight.shape)
        }, bias: bias, { try gradients.sum(axes: [2]) })
    }
}

extension Embedding: PerSampleGradientLayer {
    /// Each example's output gradients added into the rows of its ids: (B, num, dim).
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "Embedding")
        let dimension = weight.shape[1]
        let gradients = try outputGradient.reshape([batch, -1, dimension])
        let positions = gradients.shape[1]
        return try trainable(weight: weight, {
            let index = try input.reshape([batch, positions, 1]).expand([batch, positions, dimension]).contiguous()
            return try Tensor.zeros([batch] + weight.shape).scatterAdd(axis: 1, index: index, source: gradients)
        })
    }
}

extension LayerNorm: PerSampleGradientLayer {
    /// Weight: the normalised input times the output gradient, summed over every axis but the
    /// batch and the normalised ones; bias: the output gradient summed the same way.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "LayerNorm")
        let perExample = [batch, -1, normalizedShape.reduce(1, *)]
        return try trainable(weight: weight, {
            try (normalized(input) * outputGradient).reshape(perExample).sum(axes: [1]).reshape([batch] + normalizedShape)
        }, bias: bias, { try outputGradient.reshape(perExample).sum(axes: [1]).reshape([batch] + self.normalizedShape) })
    }
}

extension GroupNorm: PerSampleGradientLayer {
    /// Weight: the group-normalised input times the output gradient, summed over each channel's
    /// positions; bias: the output gradient summed the same way. (B, C) each.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "GroupNorm")
        return try trainable(weight: weight, {
            try (normalized(input) * outputGradient).reshape([batch, channels, -1]).sum(axes: [2])
        }, bias: bias, { try outputGradient.reshape([batch, self.channels, -1]).sum(axes: [2]) })
    }
}

extension RMSNorm: PerSampleGradientLayer {
    /// Weight: the input divided by its root mean square, times the output gradient, summed
    /// over every axis but the batch and the last.
    public func perSampleGradients(input: Tensor, outputGradient: Tensor) throws -> [String: Tensor] {
        let batch = try PerSampleGradients.batchSize(input, outputGradient, layer: "RMSNorm")
        return try trainable(weight: weight, {
            try (normalized(input) * outputGradient).reshape([batch, -1, weight.shape[0]]).sum(axes: [1])
        })
    }
}

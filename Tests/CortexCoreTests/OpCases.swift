import CortexCore

/// One op case: the Swift side of a case in Tools/make_op_fixtures.py, with the same name.
struct OpCase: Sendable, CustomStringConvertible {
    let name: String
    let function: @Sendable ([Tensor]) throws -> Tensor
    /// Whether finite differences can check this case (smooth at the fixture's inputs).
    var finiteDifferences = true
    var description: String { name }
}

private func op(_ name: String, finiteDifferences: Bool = true, _ function: @escaping @Sendable ([Tensor]) throws -> Tensor) -> OpCase {
    OpCase(name: name, function: function, finiteDifferences: finiteDifferences)
}

/// Mirrors, case by case, the PyTorch lambdas of Tools/make_op_fixtures.py (quoted in comments).
let opCases: [OpCase] = [
    // Element-wise, one input
    op("neg") { try -$0[0] },
    op("exp") { try $0[0].exp() },
    op("log") { try $0[0].log() },
    op("sqrt") { try $0[0].sqrt() },
    op("rsqrt") { try $0[0].rsqrt() },
    op("abs") { try $0[0].abs() },
    op("square") { try $0[0].square() },
    op("reciprocal") { try $0[0].reciprocal() },
    op("sin") { try $0[0].sin() },
    op("cos") { try $0[0].cos() },
    op("relu") { try $0[0].relu() },
    op("leaky_relu") { try $0[0].leakyRelu(negativeSlope: 0.1) },            // F.leaky_relu(x, 0.1)
    op("gelu") { try $0[0].gelu() },
    op("gelu_tanh") { try $0[0].gelu(approximate: .tanh) },
    op("silu") { try $0[0].silu() },
    op("sigmoid") { try $0[0].sigmoid() },
    op("tanh") { try $0[0].tanh() },
    op("tanh_small") { try $0[0].tanh() },
    op("softplus") { try $0[0].softplus() },
    op("softplus_beta") { try $0[0].softplus(beta: 2, threshold: 4) },      // F.softplus(x, beta=2.0, threshold=4.0)
    op("pow_scalar") { try $0[0].pow(2.5) },
    op("pow_integer") { try $0[0].pow(3) },
    op("clamp") { try $0[0].clamp(min: -0.5, max: 0.5) },
    op("clamp_min") { try $0[0].clamp(min: 0.2) },
    op("exp_transposed") { try $0[0].mT.exp() },                            // x.t().exp()
    op("tanh_sliced") { try $0[0].slice(axis: 1, step: 2).tanh() },        // x[:, ::2].tanh()
    op("gelu_large") { try $0[0].gelu() },
    op("sigmoid_transposed_large") { try $0[0].mT.sigmoid() },

    // Element-wise, two inputs
    op("add") { try $0[0] + $0[1] },
    op("add_broadcast") { try $0[0] + $0[1] },
    op("sub_broadcast") { try $0[0] - $0[1] },
    op("mul") { try $0[0] * $0[1] },
    op("mul_broadcast") { try $0[0] * $0[1] },
    op("div") { try $0[0] / $0[1] },
    op("div_broadcast") { try $0[0] / $0[1] },
    op("pow_tensor") { try $0[0].pow($0[1]) },
    op("maximum") { try $0[0].maximum($0[1]) },
    op("minimum_broadcast") { try $0[0].minimum($0[1]) },
    op("add_transposed") { try $0[0].mT + $0[1] },                          // x.t() + y
    op("mul_sliced") { try $0[0].slice(axis: 1, start: 1, step: 2) * $0[1] }, // x[:, 1::2] * y
    op("add_scalar") { try $0[0] + 2.5 },
    op("mul_scalar") { try $0[0] * -1.5 },
    op("rsub_scalar") { try 2 - $0[0] },
    op("rdiv_scalar") { try 1.5 / $0[0] },
    op("where") { try Tensor.where($0[0] .> 0, $0[1], $0[2]) },           // torch.where(c > 0, x, y)
    op("add_large_broadcast") { try $0[0] + $0[1] },

    // Comparisons
    op("eq") { try $0[0] .== $0[1] },
    op("ne") { try $0[0] .!= $0[1] },
    op("lt") { try $0[0] .< $0[1] },
    op("le") { try $0[0] .<= $0[1] },
    op("gt_scalar") { try $0[0] .> 0.3 },
    op("ge") { try $0[0] .>= $0[1] },

    // Reductions
    op("sum_all") { try $0[0].sum() },
    op("sum_axis_keepdim") { try $0[0].sum(axes: [1], keepDimensions: true) },
    op("sum_axes") { try $0[0].sum(axes: [0, 2]) },
    op("sum_transposed") { try $0[0].mT.sum(axes: [0]) },
    op("sum_large") { try $0[0].sum(axes: [1]) },
    op("sum_leading_large") { try $0[0].sum(axes: [0]) },
    op("mean_all") { try $0[0].mean() },
    op("mean_last") { try $0[0].mean(axes: [-1]) },
    op("max_all") { try $0[0].max() },
    op("max_axis") { try $0[0].max(axis: 1).values },
    op("max_axis_indices") { try $0[0].max(axis: 1).indices },
    op("min_axis_keepdim") { try $0[0].min(axis: 0, keepDimensions: true).values },
    op("argmax_axis") { try $0[0].argmax(axis: 2) },
    op("argmin_all") { try $0[0].argmin() },
    op("amax_axes") { try $0[0].amax(axes: [0, 2]) },
    op("var_axis") { try $0[0].variance(axes: [1]) },
    op("var_all_biased") { try $0[0].variance(correction: 0) },
    op("std_keepdim") { try $0[0].standardDeviation(axes: [-1], keepDimensions: true) },
    op("logsumexp") { try $0[0].logsumexp(axes: [1]) },
    op("softmax_last") { try $0[0].softmax(axis: -1) },
    op("softmax_first") { try $0[0].softmax(axis: 0) },
    op("log_softmax_last") { try $0[0].logSoftmax(axis: -1) },
    op("log_softmax_transposed") { try $0[0].mT.logSoftmax(axis: 1) },
    op("softmax_wide") { try $0[0].softmax(axis: -1) },

    // Views and shape ops
    op("reshape") { try $0[0].reshape([4, -1]) },
    op("reshape_transposed") { try $0[0].mT.reshape([-1]) },
    op("permute") { try $0[0].permute([2, 0, 1]) },
    op("transpose") { try $0[0].transpose(0, 2) },
    op("squeeze_unsqueeze") { try $0[0].squeeze(1).unsqueeze(0) },
    op("slice_step") { try $0[0][.all, .range(1, 4, step: 2), .all] },      // x[:, 1:4:2, :]
    op("slice_negative") { try $0[0].slice(axis: -1, start: -3) },         // x[..., -3:]
    op("expand") { try $0[0].expand([3, 4]) * 1.0 },
    op("contiguous") { try $0[0].mT.contiguous() },
    op("flatten") { try $0[0].flatten(startAxis: 1) },
    op("cat") { try Tensor.cat($0, axis: 1) },
    op("stack") { try Tensor.stack($0, axis: 0) },
    op("split") { try $0[0].split(sizes: [1, 3], axis: 1)[1] },
    op("chunk") { try $0[0].chunk(2, axis: 2)[1] },
    op("gather") { try $0[0].gather(axis: 1, index: $0[1]) },
    op("scatter_add") { try $0[0].scatterAdd(axis: 0, index: $0[1], source: $0[2]) },
    op("index_select") { try $0[0].indexSelect(axis: 1, indices: $0[1]) },
    op("embedding") { try $0[0].embedding($0[1]) },                         // F.embedding(i, w)
    op("one_hot") { try $0[0].oneHot(classes: 5) },
    op("tril") { try $0[0].tril() },
    op("triu_diagonal") { try $0[0].triu(diagonal: 1) },
    op("tril_negative") { try $0[0].tril(diagonal: -1) },
    op("pad") { try $0[0].pad([1, 2, 0, 1]) },
    op("pad_value") { try $0[0].pad([2, 0], value: 1.5) },

    // Matrix products
    op("matmul") { try $0[0].matmul($0[1]) },
    op("matmul_batched") { try $0[0].matmul($0[1]) },
    op("matmul_broadcast") { try $0[0].matmul($0[1]) },
    op("matmul_transposed") { try $0[0].mT.matmul($0[1].mT) },
    op("matmul_batched_transposed") { try $0[0].matmul($0[1].transpose(1, 2)) },
    op("matmul_sliced") { try $0[0].slice(axis: 1, step: 2).matmul($0[1]) },
    op("matvec") { try $0[0].matmul($0[1]) },
    op("vecmat") { try $0[0].matmul($0[1]) },
    op("dot") { try $0[0].matmul($0[1]) },

    // Convolution helpers
    op("unfold") { try $0[0].im2col(kernel: (2, 3), stride: (2, 1), padding: (1, 1), dilation: (1, 2)) },
    op("max_pool2d") { try $0[0].maxPool2d(kernel: (3, 2), stride: (2, 1), padding: (1, 1)) },
    op("fold") { try $0[0].col2im(outputSize: (4, 5), kernel: (2, 2), stride: (1, 2), padding: (1, 0)) },

    // Composites
    op("mlp") { x in try (x[0].matmul(x[1]) + x[2]).gelu().matmul(x[3]).logSoftmax(axis: -1) },
    op("attention") { x in
        let mask = try Tensor.full([4, 4], value: -.infinity).triu(diagonal: 1)
        return try ((x[0].matmul(x[1].transpose(1, 2)) * 0.35) + mask).softmax(axis: -1).matmul(x[2])
    },
]

import CortexCore
let x = try Tensor([[1, 2, 3], [4, 5, 6]]).requiringGrad()
let w = try Tensor([[1, 0], [0, 1], [1, 1]]).requiringGrad()
let y = try x.matmul(w).gelu().softmax(axis: -1).sum()
try y.backward()
print(y, x.grad!, w.grad!)
print(try Tensor.arange(0, 10).exp().log())
print(try x.transpose(0, 1).contiguous())
print(try x.sum(axes: [0]), try x.max(axis: 1), try x.variance())

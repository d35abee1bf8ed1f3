import Foundation
import Testing
@testable import CortexCore
import CortexTestSupport

/// Bad input gives a typed `CortexError` naming the offending shapes, axes, indices, dtypes
/// or paths; never a crash.
@Suite struct ErrorTests {
    /// Runs `body`, expecting a CortexError whose message contains every fragment.
    func expectError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        expectCortexError(fragments, sourceLocation: sourceLocation, body)
    }

    @Test func shapeMismatch() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4])
        expectError(["add", "[2, 3]", "[4]", "broadcast"]) { _ = try a + b }
        expectError(["matmul", "[2, 3]", "[2, 3]", "inner dimensions 3 and 2"]) { _ = try a.matmul(a) }
        expectError(["reshape", "[2, 3]", "[4, 2]"]) { _ = try a.reshape([4, 2]) }
        expectError(["cat", "[2, 3]", "[4]"]) { _ = try Tensor.cat([a, b]) }
        expectError(["expand", "[2, 3]", "[2, 4]"]) { _ = try a.expand([2, 4]) }
        expectError(["backward", "[2, 3]", "[3]"]) { try a.requiringGrad().backward(Tensor.ones([3])) }
        expectError(["Tensor(_:shape:)", "[2, 2]", "[3]"]) { _ = try Tensor([1, 2, 3], shape: [2, 2]) }
        expectError(["im2col", "[2, 3]"]) { _ = try a.im2col(kernel: (2, 2)) }
    }

    @Test func badAxis() throws {
        let a = try Tensor.zeros([2, 3])
        expectError(["sum", "axis 2", "rank 2"]) { _ = try a.sum(axes: [2]) }
        expectError(["softmax", "axis -3", "rank 2"]) { _ = try a.softmax(axis: -3) }
        expectError(["transpose", "axis 5"]) { _ = try a.transpose(0, 5) }
        expectError(["max", "axis 7"]) { _ = try a.max(axis: 7) }
        expectError(["permute", "[0, 0]"]) { _ = try a.permute([0, 0]) }
        expectError(["sum", "axis -1 appears more than once"]) { _ = try a.sum(axes: [1, -1]) }
        expectError(["slice", "axis 2"]) { _ = try a.slice(axis: 2, start: 0) }
    }

    @Test func indexOutOfRange() throws {
        let table = try Tensor.zeros([4, 3])
        expectError(["indexSelect", "index 7", "0..<4"]) { _ = try table.indexSelect(axis: 0, indices: Tensor(integers: [1, 7])) }
        expectError(["indexSelect", "index -1", "0..<4"]) { _ = try table.embedding(Tensor(integers: [-1])) }
        expectError(["gather", "index 3", "0..<3"]) { _ = try table.gather(axis: 1, index: Tensor(integers: [0, 3], shape: [1, 2])) }
        expectError(["scatterAdd", "index 9"]) {
            _ = try table.scatterAdd(axis: 0, index: Tensor(integers: [9, 0, 0], shape: [1, 3]), source: Tensor.ones([1, 3]))
        }
        expectError(["oneHot", "index 5", "0..<5"]) { _ = try Tensor(integers: [5]).oneHot(classes: 5) }
        expectError(["select", "index 4", "0..<4"]) { _ = try table.select(axis: 0, index: 4) }
    }

    @Test func dtypeMismatch() throws {
        let integers = try Tensor(integers: [1, 2])
        let floats = try Tensor([1, 2])
        expectError(["add", "float32", "int64"]) { _ = try integers + floats }
        expectError(["matmul", "float32", "float16"]) { _ = try floats.to(.float16).matmul(floats) }
        expectError(["gather", "int32 or int64", "float32"]) { _ = try floats.gather(axis: 0, index: floats) }
        expectError(["where", "bool condition", "float32"]) { _ = try Tensor.where(floats, floats, floats) }
        expectError(["requiringGrad", "float32", "int64"]) { _ = try integers.requiringGrad() }
    }

    @Test func invalidArguments() throws {
        let a = try Tensor.ones([3])
        expectError(["clamp", "min 2.0", "max 1.0"]) { _ = try a.clamp(min: 2, max: 1) }
        expectError(["bernoulli", "probability 1.5"]) { _ = try Tensor.bernoulli([2], probability: 1.5) }
        expectError(["arange", "step 0.0"]) { _ = try Tensor.arange(0, 1, step: 0) }
        expectError(["full", "negative dimension -2"]) { _ = try Tensor.full([-2, 3], value: 1) }
        expectError(["slice", "step 0"]) { _ = try a.slice(axis: 0, step: 0) }
        expectError(["item", "[3]"]) { _ = try a.item() }
        expectError(["split", "[1, 1]", "3"]) { _ = try a.split(sizes: [1, 1]) }
        expectError(["pad", "[1]"]) { _ = try a.pad([1]) }
        expectError(["cuda:0", "not available"]) { _ = try a.to(.cuda(0)) }
    }

    @Test func autogradMisuse() throws {
        let leaf = try Tensor.ones([2]).requiringGrad()
        expectError(["does not require gradients"]) { try Tensor.ones([1]).backward() }
        expectError(["needs a scalar", "[2]"]) { try (leaf * 2).backward() }
        expectError(["requires gradients"]) { try leaf.fill(with: 3) }
        let loss = try (leaf * leaf).sum()
        try loss.backward()
        expectError(["a second time", "freed"]) { try loss.backward() }
    }
}

import Foundation
import Testing
import CortexCore
@testable import CortexNN
import CortexTestSupport

/// RNN, LSTM and GRU against PyTorch (Tools/make_sequence_fixtures.py): outputs, final states
/// and the gradients of input, initial states and every parameter, at rtol 1e-4.
@Suite struct RecurrentParityTests {
    static let file: Safetensors.File = {
        let url = Bundle.module.url(forResource: "sequence", withExtension: "safetensors", subdirectory: "Fixtures")!
        return try! Safetensors.load(url.path)
    }()

    /// NAME:KIND:input:hidden:layers:bidirectional:batch_first:bias
    static let cases: [String] = (file.metadata["cases"] ?? "").split(separator: ",").map(String.init)

    @Test(arguments: cases)
    func matchesPyTorch(_ description: String) throws {
        let fields = description.split(separator: ":").map(String.init)
        let name = fields[0], kind = fields[1]
        let (inputSize, hidden, layers) = (Int(fields[2])!, Int(fields[3])!, Int(fields[4])!)
        let (bidirectional, batchFirst, bias) = (fields[5] == "1", fields[6] == "1", fields[7] == "1")
        let file = RecurrentParityTests.file
        let network: RecurrentNetwork
        switch kind {
        case "lstm": network = LSTM(inputSize, hidden, layers: layers, bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        case "gru": network = GRU(inputSize, hidden, layers: layers, bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        default:
            network = RNN(inputSize, hidden, layers: layers, nonlinearity: kind == "rnn_relu" ? .relu : .tanh, bias: bias,
                          batchFirst: batchFirst, bidirectional: bidirectional)
        }
        let prefix = "\(name).param."
        try network.loadStateDict(Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix) }
            .map { (String($0.key.dropFirst(prefix.count)), $0.value) }))
        let input = try file.tensor("\(name).input").requiringGrad()
        let h0 = try file.tensor("\(name).h0").requiringGrad()
        let c0 = try file.tensors["\(name).c0"].map { try $0.requiringGrad() }
        let lengths = try file.tensors["\(name).lengths"].map { try $0.toIntArray() }
        let result = try network.run(input, hidden: h0, cellState: c0, lengths: lengths)
        func expectClose(_ actual: Tensor, _ key: String) throws {
            let failure = try closenessFailure(actual, file.tensor("\(name).\(key)"), rtol: 1e-4, atol: 1e-5)
            #expect(failure == nil, "\(name) \(key): \(failure ?? "")")
        }
        try expectClose(result.output, "output")
        try expectClose(result.hidden, "h_n")
        var objective = try (result.output * file.tensor("\(name).seed.output")).sum() + (result.hidden * file.tensor("\(name).seed.h_n")).sum()
        if let cell = result.cell {
            try expectClose(cell, "c_n")
            objective = try objective + (cell * file.tensor("\(name).seed.c_n")).sum()
        }
        try objective.backward()
        try expectClose(input.grad!, "grad.input")
        try expectClose(h0.grad!, "grad.h0")
        if let c0 { try expectClose(c0.grad!, "grad.c0") }
        for (key, parameter) in network.namedParameters() { try expectClose(parameter.grad!, "grad.\(key)") }
        #expect(Set(network.stateDict().keys) == Set(file.tensors.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }))
    }

    @Test func badInputsAreTypedErrors() throws {
        let lstm = LSTM(3, 4, layers: 2)
        #expect(throws: CortexError.self) { try lstm(Tensor.zeros([5, 2, 4])) }
        #expect(throws: CortexError.self) { try lstm(Tensor.zeros([5, 2, 3]), state: (Tensor.zeros([1, 2, 4]), Tensor.zeros([1, 2, 4]))) }
        #expect(throws: CortexError.self) { try lstm(Tensor.zeros([5, 2, 3]), lengths: [5, 6]) }
        // Dropout between layers only while training; the parameter count is PyTorch's.
        #expect(LSTM(10, 20, layers: 2).parameterCount() == 4 * 20 * (10 + 20 + 2) + 4 * 20 * (20 + 20 + 2))
    }
}

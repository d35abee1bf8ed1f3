import CortexCore

/// The recurrence shared by ``RNN``, ``LSTM`` and ``GRU``: stacked layers, both directions,
/// batch-first or time-first input, dropout between layers, and batches of sequences with
/// different lengths. Parameters carry PyTorch's names and layouts (`weight_ih_l0`,
/// `weight_hh_l0_reverse`, `bias_ih_l1`, ...; gates stacked i, f, g, o for the LSTM and
/// r, z, n for the GRU), so PyTorch's state dicts load as they are.
///
/// Each layer's input projection is one matrix product over all time steps; the steps then
/// add the hidden projection and apply the gates.
public class RecurrentNetwork: Module, @unchecked Sendable {
    public enum Cell: Sendable, Equatable {
        case tanh, relu, lstm, gru

        var gates: Int {
            switch self {
            case .tanh, .relu: return 1
            case .lstm: return 4
            case .gru: return 3
            }
        }
    }

    public let cell: Cell
    public let inputSize: Int, hiddenSize: Int, layerCount: Int
    public let bidirectional: Bool, batchFirst: Bool, hasBias: Bool
    public let dropout: Float
    private let dropoutLayer: Dropout
    /// (name, parameter) in PyTorch's registration order.
    let weights: [(String, Parameter<Tensor>)]

    init(cell: Cell, inputSize: Int, hiddenSize: Int, layers: Int, bias: Bool, batchFirst: Bool, dropout: Float,
         bidirectional: Bool, generator: RandomGenerator) {
        precondition(inputSize > 0 && hiddenSize > 0 && layers > 0, "sizes and layer count must be positive")
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layerCount = layers
        self.bidirectional = bidirectional
        self.batchFirst = batchFirst
        self.hasBias = bias
        self.dropout = dropout
        self.dropoutLayer = Dropout(dropout, generator: generator)
        // PyTorch: every weight and bias uniform in [-1/sqrt(hidden), 1/sqrt(hidden)].
        let bound = 1 / Float(hiddenSize).squareRoot()
        var weights: [(String, Parameter<Tensor>)] = []
        for layer in 0..<layers {
            for suffix in bidirectional ? ["", "_reverse"] : [""] {
                let inputs = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
                let rows = cell.gates * hiddenSize
                func uniform(_ shape: [Int]) -> Parameter<Tensor> {
                    Parameter(wrappedValue: try! Initializers.uniform(shape, low: -bound, high: bound, generator: generator))
                }
                weights.append(("weight_ih_l\(layer)\(suffix)", uniform([rows, inputs])))
                weights.append(("weight_hh_l\(layer)\(suffix)", uniform([rows, hiddenSize])))
                if bias {
                    weights.append(("bias_ih_l\(layer)\(suffix)", uniform([rows])))
                    weights.append(("bias_hh_l\(layer)\(suffix)", uniform([rows])))
                }
            }
        }
        self.weights = weights
        super.init()
    }

    override func ownSlots() -> [(String, TensorSlot)] { weights.map { ($0.0, $0.1 as TensorSlot) } }
    override public func namedChildren() -> [(String, Module)] { [] }

    var directions: Int { bidirectional ? 2 : 1 }

    func parameter(_ name: String) -> Tensor? { weights.first { $0.0 == name }?.1.wrappedValue }

    /// Runs the network. `input` is (T, N, inputSize), or (N, T, inputSize) when batch-first;
    /// `hidden` and `cell` are (layers * directions, N, hiddenSize) (zeros when nil);
    /// `lengths` gives each sequence's length (outputs past it are zero and its final state is
    /// the one at its last step, as with PyTorch's packed sequences).
    func run(_ input: Tensor, hidden: Tensor?, cellState: Tensor?, lengths: [Int]?) throws
        -> (output: Tensor, hidden: Tensor, cell: Tensor?) {
        let name = String(describing: type(of: self))
        guard input.rank == 3, input.shape[2] == inputSize else {
            throw CortexError.shapeMismatch(operation: name, shapes: [input.shape],
                                            reason: "input must be (\(batchFirst ? "N, T" : "T, N"), \(inputSize))")
        }
        let sequence = batchFirst ? try input.transpose(0, 1) : input
        let (steps, batch) = (sequence.shape[0], sequence.shape[1])
        let stateShape = [layerCount * directions, batch, hiddenSize]
        for (label, state) in [("hidden state", hidden), ("cell state", cellState)] {
            if let state, state.shape != stateShape {
                throw CortexError.shapeMismatch(operation: name, shapes: [state.shape, stateShape], reason: "(\(label) and expected)")
            }
        }
        var masks: [Tensor]?
        if let lengths {
            guard lengths.count == batch, lengths.allSatisfy({ $0 >= 1 && $0 <= steps }) else {
                throw CortexError.invalidArgument(operation: name, reason: "lengths \(lengths) must be \(batch) values in 1...\(steps)")
            }
            // masks[t] is (N, 1): true where step t lies inside the sequence.
            masks = try (0..<steps).map { step in
                try Tensor(booleans: lengths.map { $0 > step }, shape: [batch, 1], device: input.device)
            }
        }
        var layerInput = sequence
        var finalHidden: [Tensor] = [], finalCell: [Tensor] = []
        for layer in 0..<layerCount {
            var outputs: [Tensor] = []
            for direction in 0..<directions {
                let index = layer * directions + direction
                let initialHidden = try hidden?.select(axis: 0, index: index) ?? Tensor.zeros([batch, hiddenSize], device: input.device)
                let initialCell = cell == .lstm
                    ? try cellState?.select(axis: 0, index: index) ?? Tensor.zeros([batch, hiddenSize], device: input.device) : nil
                let result = try runDirection(layerInput, layer: layer, reverse: direction == 1, hidden: initialHidden,
                                              cellState: initialCell, masks: masks)
                outputs.append(result.output)
                finalHidden.append(result.hidden)
                if let cell = result.cell { finalCell.append(cell) }
            }
            layerInput = directions == 1 ? outputs[0] : try Tensor.cat(outputs, axis: 2)
            if layer < layerCount - 1 && dropout > 0 && isTraining { layerInput = try dropoutLayer(layerInput) }
        }
        let output = batchFirst ? try layerInput.transpose(0, 1) : layerInput
        return (output, try Tensor.stack(finalHidden), finalCell.isEmpty ? nil : try Tensor.stack(finalCell))
    }

    /// One layer in one direction over (T, N, F): outputs (T, N, H) and the final state.
    private func runDirection(_ input: Tensor, layer: Int, reverse: Bool, hidden: Tensor, cellState: Tensor?,
                              masks: [Tensor]?) throws -> (output: Tensor, hidden: Tensor, cell: Tensor?) {
        let suffix = "_l\(layer)" + (reverse ? "_reverse" : "")
        let (steps, batch, features) = (input.shape[0], input.shape[1], input.shape[2])
        let inputWeight = parameter("weight_ih" + suffix)!, hiddenWeight = parameter("weight_hh" + suffix)!
        let inputBias = parameter("bias_ih" + suffix), hiddenBias = parameter("bias_hh" + suffix)
        // All steps' input projections in one product: (T * N, F) x (F, G * H).
        var projected = try input.reshape([steps * batch, features]).matmul(inputWeight.mT)
        if let inputBias { projected = try projected + inputBias }
        projected = try projected.reshape([steps, batch, cell.gates * hiddenSize])
        let zero = masks == nil ? nil : try Tensor.zeros([batch, hiddenSize], device: input.device)
        var hidden = hidden, cellState = cellState
        var outputs = [Tensor?](repeating: nil, count: steps)
        let H = hiddenSize
        for step in reverse ? Array((0..<steps).reversed()) : Array(0..<steps) {
            let fromInput = try projected.select(axis: 0, index: step)
            var fromHidden = try hidden.matmul(hiddenWeight.mT)
            if let hiddenBias { fromHidden = try fromHidden + hiddenBias }
            var newHidden: Tensor, newCell: Tensor? = nil
            switch cell {
            case .tanh: newHidden = try (fromInput + fromHidden).tanh()
            case .relu: newHidden = try (fromInput + fromHidden).relu()
            case .lstm:
                let gates = try fromInput + fromHidden
                let inputGate = try gates.slice(axis: 1, start: 0, end: H).sigmoid()
                let forgetGate = try gates.slice(axis: 1, start: H, end: 2 * H).sigmoid()
                let candidate = try gates.slice(axis: 1, start: 2 * H, end: 3 * H).tanh()
                let outputGate = try gates.slice(axis: 1, start: 3 * H, end: 4 * H).sigmoid()
                newCell = try forgetGate * cellState! + inputGate * candidate
                newHidden = try outputGate * newCell!.tanh()
            case .gru:
                let reset = try (fromInput.slice(axis: 1, start: 0, end: H) + fromHidden.slice(axis: 1, start: 0, end: H)).sigmoid()
                let update = try (fromInput.slice(axis: 1, start: H, end: 2 * H) + fromHidden.slice(axis: 1, start: H, end: 2 * H)).sigmoid()
                let candidate = try (fromInput.slice(axis: 1, start: 2 * H, end: 3 * H)
                                     + reset * fromHidden.slice(axis: 1, start: 2 * H, end: 3 * H)).tanh()
                newHidden = try candidate + update * (hidden - candidate)
            }
            if let masks, let zero {
                // Past a sequence's end its state stays and its output is zero.
                outputs[step] = try Tensor.where(masks[step], newHidden, zero)
                newHidden = try Tensor.where(masks[step], newHidden, hidden)
                if let updated = newCell { newCell = try Tensor.where(masks[step], updated, cellState!) }
            } else {
                outputs[step] = newHidden
            }
            hidden = newHidden
            if let newCell { cellState = newCell }
        }
        return (try Tensor.stack(outputs.map { $0! }), hidden, cellState)
    }
}

/// Elman recurrent network as `nn.RNN`: h' = tanh (or relu) of (W_ih x + b_ih + W_hh h + b_hh).
///
/// ```swift
/// let rnn = RNN(10, 20, layers: 2)
/// let (output, hidden) = try rnn(x)          // x: (T, N, 10) -> (T, N, 20), (2, N, 20)
/// ```
public final class RNN: RecurrentNetwork, @unchecked Sendable {
    public init(_ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, nonlinearity: Cell = .tanh, bias: Bool = true,
                batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: RandomGenerator = .default) {
        precondition(nonlinearity == .tanh || nonlinearity == .relu, "an RNN's nonlinearity is .tanh or .relu")
        super.init(cell: nonlinearity, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias, batchFirst: batchFirst,
                   dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    public func callAsFunction(_ input: Tensor, hidden: Tensor? = nil, lengths: [Int]? = nil) throws -> (output: Tensor, hidden: Tensor) {
        let result = try run(input, hidden: hidden, cellState: nil, lengths: lengths)
        return (result.output, result.hidden)
    }
}

/// Long short-term memory as `nn.LSTM` (gates i, f, g, o).
///
/// ```swift
/// let lstm = LSTM(128, 256, batchFirst: true)
/// let (output, hidden, cell) = try lstm(embedded)    // (N, T, 128) -> (N, T, 256)
/// ```
public final class LSTM: RecurrentNetwork, @unchecked Sendable {
    public init(_ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, generator: RandomGenerator = .default) {
        super.init(cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias, batchFirst: batchFirst,
                   dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    public func callAsFunction(_ input: Tensor, state: (hidden: Tensor, cell: Tensor)? = nil, lengths: [Int]? = nil) throws
        -> (output: Tensor, hidden: Tensor, cell: Tensor) {
        let result = try run(input, hidden: state?.hidden, cellState: state?.cell, lengths: lengths)
        return (result.output, result.hidden, result.cell!)
    }
}

/// Gated recurrent unit as `nn.GRU` (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).
///
/// ```swift
/// let gru = GRU(32, 64, bidirectional: true)
/// let (output, hidden) = try gru(x, lengths: [7, 5, 2])
/// ```
public final class GRU: RecurrentNetwork, @unchecked Sendable {
    public init(_ inputSize: Int, _ hiddenSize: Int, layers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, generator: RandomGenerator = .default) {
        super.init(cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias, batchFirst: batchFirst,
                   dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    public func callAsFunction(_ input: Tensor, hidden: Tensor? = nil, lengths: [Int]? = nil) throws -> (output: Tensor, hidden: Tensor) {
        let result = try run(input, hidden: hidden, cellState: nil, lengths: lengths)
        return (result.output, result.hidden)
    }
}

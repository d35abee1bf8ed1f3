import CortexCore
import CortexNN
import Foundation

/// Data-parallel training of one model replicated on every rank, as PyTorch's
/// `DistributedDataParallel`: each rank runs forward and backward on its share of the global
/// batch, and gradients are averaged across ranks during backward, so every rank's optimizer
/// takes the same step.
///
/// - At start, every rank's model is compared (names, shapes and dtypes, by hash) and the
///   parameters and buffers are broadcast from rank 0.
/// - Gradients are averaged in buckets of about `bucketCapacityMB` (25 MB, PyTorch's default),
///   filled in reverse parameter order. A bucket's all-reduce starts as soon as backward has
///   finished its last gradient (a post-accumulate hook), so communication overlaps the rest of
///   backward; `backward()` returns once every bucket is averaged.
/// - Buffers (BatchNorm's running statistics) are broadcast from rank 0 before each training
///   forward pass, so every rank evaluates with the same statistics.
/// - ``noSync(_:)`` accumulates gradients locally (gradient accumulation); the next
///   synchronised backward averages the accumulated sums.
///
/// ```swift
/// let group = try ProcessGroups.fromEnvironment()
/// let model = Classifiers.mnistMLP()
/// let parallel = try DistributedDataParallel(model, group: group)
/// let loss = try Loss.crossEntropy(parallel(localBatch.inputs), targets: localBatch.targets)
/// try loss.backward()          // gradients are now the mean over all ranks' samples
/// try optimizer.step()
/// ```
public final class DistributedDataParallel: Layer, @unchecked Sendable {
    /// The wrapped model. Models called their own way (a language model's `loss(_:targets:)`)
    /// train through it directly; call ``synchronizeBuffers()`` before their forward pass if
    /// they hold buffers.
    public let module: Module
    public let group: any ProcessGroup
    public let bucketCapacityBytes: Int
    public var broadcastBuffers: Bool
    /// Seconds spent after backward waiting for gradient all-reduces to finish, in total.
    public private(set) var communicationWaitSeconds: Double = 0
    /// Seconds spent broadcasting buffers before forward passes, in total.
    public private(set) var bufferBroadcastSeconds: Double = 0
    /// Backward passes whose gradients were averaged.
    public private(set) var synchronizedPasses = 0
    /// Buckets whose all-reduce started while backward was still running (the overlap), in total.
    public private(set) var bucketsStartedDuringBackward = 0

    private final class Bucket {
        let parameters: [Tensor]
        let offsets: [Int]
        let flat: Tensor
        var ready = 0
        var work: CommunicationWork?

        init(parameters: [Tensor]) throws {
            self.parameters = parameters
            var offsets: [Int] = [], total = 0
            for parameter in parameters { offsets.append(total); total += parameter.count }
            self.offsets = offsets
            flat = try Tensor.empty([total])
        }
    }

    private var buckets: [Bucket] = []
    /// For each synchronised parameter (model order): its bucket and slot.
    private var placement: [(bucket: Int, slot: Int)] = []
    private var parameterReady: [Bool] = []
    private var nextBucketToLaunch = 0
    private var activePass: ObjectIdentifier?
    private var synchronizing = true
    private var hooks: [GradientHookHandle] = []

    /// Wraps `module` for data-parallel training over `group`. Fails on every rank, naming the
    /// differences, when the ranks' models disagree.
    public init(_ module: Module, group: any ProcessGroup, bucketCapacityMB: Double = 25, broadcastBuffers: Bool = true) throws {
        guard bucketCapacityMB > 0 else {
            throw CortexError.invalidArgument(operation: "DistributedDataParallel", reason: "bucketCapacityMB \(bucketCapacityMB) must be positive")
        }
        self.module = module
        self.group = group
        self.bucketCapacityBytes = Int(bucketCapacityMB * 1024 * 1024)
        self.broadcastBuffers = broadcastBuffers
        guard group.size > 1 else { return }
        try ModelAgreement.verify(module, group: group)
        try withNoGrad {
            let works = try module.stateDict().sorted { $0.key < $1.key }.map { try group.startBroadcast($0.value, root: 0) }
            for work in works { try work.wait() }
        }
        try buildBuckets()
    }

    deinit {
        for hook in hooks { hook.remove() }
    }

    private func buildBuckets() throws {
        // A tensor shared by two slots (tied weights) is reduced once.
        struct Identity: Hashable { let storage: ObjectIdentifier, offset: Int }
        var seen = Set<Identity>()
        let parameters = module.parameters().filter { parameter in
            parameter.requiresGrad && seen.insert(Identity(storage: ObjectIdentifier(parameter.storage), offset: parameter.layout.offset)).inserted
        }
        placement = Array(repeating: (0, 0), count: parameters.count)
        parameterReady = Array(repeating: false, count: parameters.count)
        var current: [Int] = [], currentBytes = 0
        var groups: [[Int]] = []
        for index in parameters.indices.reversed() {
            let bytes = parameters[index].count * 4
            if !current.isEmpty && currentBytes + bytes > bucketCapacityBytes {
                groups.append(current)
                current = []
                currentBytes = 0
            }
            current.append(index)
            currentBytes += bytes
        }
        if !current.isEmpty { groups.append(current) }
        for (bucketIndex, members) in groups.enumerated() {
            buckets.append(try Bucket(parameters: members.map { parameters[$0] }))
            for (slot, parameterIndex) in members.enumerated() { placement[parameterIndex] = (bucketIndex, slot) }
        }
        for (index, parameter) in parameters.enumerated() {
            hooks.append(try parameter.registerPostAccumulateGradHook { [unowned self] _ in try self.gradientReady(index) })
        }
    }

    /// The bucket layout: parameter counts per bucket, first bucket first (reverse model order).
    public var bucketSizes: [Int] { buckets.map { $0.flat.count } }

    // MARK: Forward

    /// The wrapped module's output, after ``synchronizeBuffers()``; the module must be a ``Layer``.
    public func forward(_ input: Tensor) throws -> Tensor {
        guard let layer = module as? Layer else {
            throw CortexError.invalidArgument(operation: "DistributedDataParallel", reason: "\(type(of: module)) is not a Layer: call its own forward on `module`")
        }
        try synchronizeBuffers()
        return try layer(input)
    }

    /// Copies rank 0's buffers to every rank (in training mode, with `broadcastBuffers`).
    public func synchronizeBuffers() throws {
        guard group.size > 1 && broadcastBuffers && module.isTraining else { return }
        let buffers = module.namedBuffers()
        guard !buffers.isEmpty else { return }
        let started = Date()
        let works = try buffers.map { try group.startBroadcast($0.1, root: 0) }
        for work in works { try work.wait() }
        bufferBroadcastSeconds += Date().timeIntervalSince(started)
    }

    /// Runs `body` (forward and backward passes) without averaging gradients, which accumulate
    /// locally; the first synchronised backward after it averages the sums (PyTorch's `no_sync`).
    public func noSync<T>(_ body: () throws -> T) rethrows -> T {
        let previous = synchronizing
        synchronizing = false
        defer { synchronizing = previous }
        return try body()
    }

    // MARK: Backward

    private func gradientReady(_ index: Int) throws {
        guard synchronizing else { return }
        let pass = BackwardPass.currentIdentifier
        if activePass != pass {
            // A new backward pass (a failed earlier one may have left buckets in flight).
            try settleInFlight()
            resetPass()
            activePass = pass
            try BackwardPass.queueCallback { [unowned self] in try self.finishPass() }
        }
        guard !parameterReady[index] else { return }
        try markReady(index)
        try launchReadyBuckets()
    }

    /// Copies parameter `index`'s gradient (zeros where it has none) into its bucket.
    private func markReady(_ index: Int) throws {
        parameterReady[index] = true
        let (bucketIndex, slot) = placement[index]
        let bucket = buckets[bucketIndex]
        try copyGradient(of: bucket.parameters[slot], into: bucket, slot: slot)
        bucket.ready += 1
    }

    /// Buckets start in index order on every rank, so the collectives line up across ranks.
    private func launchReadyBuckets() throws {
        while nextBucketToLaunch < buckets.count, buckets[nextBucketToLaunch].ready == buckets[nextBucketToLaunch].parameters.count {
            let bucket = buckets[nextBucketToLaunch]
            bucket.work = try group.startAllReduce(bucket.flat, operation: .mean)
            nextBucketToLaunch += 1
        }
    }

    private func copyGradient(of parameter: Tensor, into bucket: Bucket, slot: Int) throws {
        let destination = bucket.flat.hostAddress.assumingMemoryBound(to: Float.self) + bucket.offsets[slot]
        guard let gradient = try parameter.grad?.contiguous() else {
            destination.initialize(repeating: 0, count: parameter.count)
            return
        }
        destination.update(from: gradient.hostAddress.assumingMemoryBound(to: Float.self), count: parameter.count)
    }

    /// At the end of backward: parameters that got no gradient this pass count as zeros, the
    /// remaining buckets start, and every averaged bucket is copied back into the gradients.
    private func finishPass() throws {
        bucketsStartedDuringBackward += nextBucketToLaunch
        for (index, ready) in parameterReady.enumerated() where !ready { try markReady(index) }
        try launchReadyBuckets()
        let started = Date()
        try settleInFlight()
        communicationWaitSeconds += Date().timeIntervalSince(started)
        for bucket in buckets {
            let source = bucket.flat.hostAddress.assumingMemoryBound(to: Float.self)
            for (slot, parameter) in bucket.parameters.enumerated() {
                let averaged = source + bucket.offsets[slot]
                if let gradient = parameter.grad, gradient.isContiguous, gradient.dtype == .float32 {
                    gradient.hostAddress.assumingMemoryBound(to: Float.self).update(from: averaged, count: parameter.count)
                } else {
                    let fresh = try Tensor.empty(parameter.shape)
                    fresh.hostAddress.assumingMemoryBound(to: Float.self).update(from: averaged, count: parameter.count)
                    parameter.setGrad(fresh)
                }
            }
        }
        resetPass()
        synchronizedPasses += 1
    }

    private func settleInFlight() throws {
        for bucket in buckets { try bucket.work?.wait() }
    }

    private func resetPass() {
        for bucket in buckets { bucket.ready = 0; bucket.work = nil }
        for index in parameterReady.indices { parameterReady[index] = false }
        nextBucketToLaunch = 0
        activePass = nil
    }
}

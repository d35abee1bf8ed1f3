import CortexCore
import Foundation

/// Device memory as the caching allocator sees it (`CUDADriver` in use; a fake in tests).
public protocol DeviceMemory: AnyObject, Sendable {
    func allocate(bytes: Int) throws -> UInt64
    func free(_ pointer: UInt64) throws
}

extension CUDADriver: DeviceMemory {}

/// A caching allocator for device memory, as PyTorch's: requests are rounded up (to 512
/// bytes below 1 MiB, to 2 MiB above), freed blocks are kept by rounded size and handed out
/// again, so a training step that makes the same shapes as the last calls cuMemAlloc never.
/// When the device is out of memory the cache is given back and the allocation tried once more.
///
/// ```swift
/// let allocator = CUDACachingAllocator(memory: try CUDADriver.shared())
/// let block = try allocator.allocate(bytes: 4096)
/// allocator.release(block)                        // kept for the next 4096-byte request
/// ```
public final class CUDACachingAllocator: @unchecked Sendable {
    public struct Block: Sendable, Hashable {
        public let pointer: UInt64
        /// Rounded size: the bytes the block really has.
        public let size: Int
    }

    public struct Statistics: Sendable, Equatable {
        /// Bytes in blocks handed out, in blocks kept for reuse, and the most ever handed out.
        public var allocated = 0, cached = 0, peakAllocated = 0
        /// Calls that reached the device allocator.
        public var deviceAllocations = 0
    }

    let memory: DeviceMemory
    private var free: [Int: [UInt64]] = [:]
    private var statistics = Statistics()
    private let lock = NSLock()

    public init(memory: DeviceMemory) { self.memory = memory }

    public var stats: Statistics {
        lock.lock()
        defer { lock.unlock() }
        return statistics
    }

    /// The size a request of `bytes` is served with.
    public static func roundedSize(_ bytes: Int) -> Int {
        let small = 1 << 20, large = 2 << 20
        return bytes <= small ? max(512, (bytes + 511) / 512 * 512) : (bytes + large - 1) / large * large
    }

    public func allocate(bytes: Int) throws -> Block {
        guard bytes >= 0 else { throw CortexError.invalidArgument(operation: "CUDACachingAllocator", reason: "\(bytes) bytes requested") }
        let size = Self.roundedSize(bytes)
        lock.lock()
        if let pointer = free[size]?.popLast() {
            statistics.cached -= size
            statistics.allocated += size
            statistics.peakAllocated = max(statistics.peakAllocated, statistics.allocated)
            lock.unlock()
            return Block(pointer: pointer, size: size)
        }
        lock.unlock()
        let pointer: UInt64
        do {
            pointer = try memory.allocate(bytes: size)
        } catch {
            // Out of memory (or fragmented by cached blocks): give the cache back and retry once.
            try emptyCache()
            pointer = try memory.allocate(bytes: size)
        }
        lock.lock()
        statistics.deviceAllocations += 1
        statistics.allocated += size
        statistics.peakAllocated = max(statistics.peakAllocated, statistics.allocated)
        lock.unlock()
        return Block(pointer: pointer, size: size)
    }

    /// Keeps `block` for reuse.
    public func release(_ block: Block) {
        lock.lock()
        free[block.size, default: []].append(block.pointer)
        statistics.allocated -= block.size
        statistics.cached += block.size
        lock.unlock()
    }

    /// Returns every cached block to the device.
    public func emptyCache() throws {
        lock.lock()
        let blocks = free
        free = [:]
        statistics.cached = 0
        lock.unlock()
        for (_, pointers) in blocks { for pointer in pointers { try memory.free(pointer) } }
    }
}

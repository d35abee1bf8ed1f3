import Foundation

/// A reference-counted block of elements on one device. Tensors are views (a ``Layout``) over a
/// storage; many tensors may share one. The bytes change only through explicit in-place ops.
///
/// `pointer` is a host address for `.cpu` and a device address for accelerators; only that
/// device's backend dereferences it.
public final class Storage: @unchecked Sendable {
    public let device: Device
    public let dtype: DType
    /// Number of elements.
    public let count: Int
    public let pointer: UnsafeMutableRawPointer
    private let release: Release

    enum Release {
        /// Give the block back to the CPU caching allocator.
        case hostAllocator(byteCount: Int)
        /// Keep `owner` (a mapped file, a device allocation) alive as long as this storage.
        case owner(AnyObject)
    }

    init(device: Device, dtype: DType, count: Int, pointer: UnsafeMutableRawPointer, release: Release) {
        self.device = device
        self.dtype = dtype
        self.count = count
        self.pointer = pointer
        self.release = release
    }

    public var byteCount: Int { count * dtype.byteCount }

    deinit {
        if case let .hostAllocator(byteCount) = release {
            HostAllocator.shared.free(pointer, byteCount: byteCount)
        }
    }

    /// A new host storage of `count` elements; contents are undefined.
    static func host(dtype: DType, count: Int) -> Storage {
        let byteCount = max(count * dtype.byteCount, 1)
        let pointer = HostAllocator.shared.allocate(byteCount: byteCount)
        return Storage(device: .cpu, dtype: dtype, count: count, pointer: pointer, release: .hostAllocator(byteCount: byteCount))
    }

    /// A host storage over memory someone else owns (a memory-mapped file): no copy.
    static func host(dtype: DType, count: Int, borrowing pointer: UnsafeMutableRawPointer, owner: AnyObject) -> Storage {
        Storage(device: .cpu, dtype: dtype, count: count, pointer: pointer, release: .owner(owner))
    }

    @inline(__always)
    func floats() -> UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
}

/// Host memory for tensors: 64-byte aligned, with freed large blocks kept by exact size and
/// handed out again, so a training loop that makes the same shapes every step stops paying for
/// page faults and zeroing after the first step.
final class HostAllocator: @unchecked Sendable {
    static let shared = HostAllocator()

    /// Blocks at least this large are cached; smaller ones go straight to malloc's own bins.
    let minimumCachedBytes = 1 << 16
    /// At most this many bytes are held in the cache; beyond it blocks are freed.
    var cacheLimitBytes: Int
    private var cached: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    private let lock = NSLock()

    init() {
        let environment = ProcessInfo.processInfo.environment["CORTEX_HOST_CACHE_MB"].flatMap(Int.init)
        cacheLimitBytes = (environment ?? 1024) << 20
    }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumCachedBytes {
            lock.lock()
            if var blocks = cached[byteCount], let block = blocks.popLast() {
                cached[byteCount] = blocks
                cachedBytes -= byteCount
                lock.unlock()
                return block
            }
            lock.unlock()
        }
        if byteCount >= hugePageBytes {
            // Large blocks on 2 MiB boundaries, marked for transparent huge pages: streaming
            // through tens of megabytes then costs no TLB miss (and no prefetch stop) every 4 KiB.
            var pointer: UnsafeMutableRawPointer?
            if posix_memalign(&pointer, hugePageBytes, byteCount) == 0, let pointer {
                _ = madvise(pointer, byteCount, MADV_HUGEPAGE)
                return pointer
            }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    /// Blocks at least this large get huge pages.
    let hugePageBytes = 2 << 20

    func free(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= minimumCachedBytes {
            lock.lock()
            if cachedBytes + byteCount <= cacheLimitBytes {
                cached[byteCount, default: []].append(pointer)
                cachedBytes += byteCount
                lock.unlock()
                return
            }
            lock.unlock()
        }
        pointer.deallocate()
    }

    /// Returns every cached block to the system.
    func emptyCache() {
        lock.lock()
        let blocks = cached
        cached = [:]
        cachedBytes = 0
        lock.unlock()
        for (_, list) in blocks { for block in list { block.deallocate() } }
    }
}

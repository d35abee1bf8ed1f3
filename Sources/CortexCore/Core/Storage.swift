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
///
/// Caching never makes the program hold more than its own peak: the large blocks' footprint,
/// live plus cached, stays within the most that has ever been live at once (or
/// `cacheLimitBytes`, if that is more). A step that frees its activations keeps them all for
/// the next step to take back; a miss that would grow the footprint past the bound first
/// returns cached blocks, largest first, to the system. Shapes that keep changing (a teacher
/// labelling batches of every size) so cost page faults, not a growing resident set.
final class HostAllocator: @unchecked Sendable {
    static let shared = HostAllocator()

    /// Blocks at least this large are cached; smaller ones go straight to malloc's own bins.
    let minimumCachedBytes = 1 << 16
    /// The footprint the cache may fill whatever the peak (CORTEX_HOST_CACHE_MB, default 64 MiB).
    var cacheLimitBytes: Int
    private var cached: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    /// Large blocks handed out and not yet freed, and the most there ever were at once.
    private var liveBytes = 0, peakLiveBytes = 0
    private let lock = NSLock()

    init() {
        let environment = ProcessInfo.processInfo.environment["CORTEX_HOST_CACHE_MB"].flatMap(Int.init)
        cacheLimitBytes = (environment ?? 64) << 20
    }

    /// The bound on live plus cached large blocks.
    private var footprintLimit: Int { max(cacheLimitBytes, peakLiveBytes) }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumCachedBytes {
            lock.lock()
            liveBytes += byteCount
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            if var blocks = cached[byteCount], let block = blocks.popLast() {
                cached[byteCount] = blocks.isEmpty ? nil : blocks
                cachedBytes -= byteCount
                lock.unlock()
                return block
            }
            var released: [UnsafeMutableRawPointer] = []
            while liveBytes + cachedBytes > footprintLimit, let size = cached.keys.max(), var blocks = cached[size], let block = blocks.popLast() {
                cached[size] = blocks.isEmpty ? nil : blocks
                cachedBytes -= size
                released.append(block)
            }
            lock.unlock()
            for block in released { block.deallocate() }
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
            liveBytes -= byteCount
            // Live plus cached does not change, so the block fits within the bound unless
            // the bound was lowered.
            if liveBytes + cachedBytes + byteCount <= footprintLimit {
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

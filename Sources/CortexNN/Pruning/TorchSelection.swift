/// `torch.topk`'s choice of indices on the CPU, ties included: which k entries it returns
/// depends on more than their values when some are equal, so pruning with the same weights
/// must walk the same steps. PyTorch's CPU kernel (`topk_impl_loop`) fills a queue of
/// (value, index) pairs and, when k * 64 <= n, runs `std::partial_sort` over it, otherwise
/// `std::nth_element`; both with a comparator on the values alone (NaN counted largest). This
/// replays GNU libstdc++'s versions of those algorithms (introselect, heap select, insertion
/// sort), which PyTorch's Linux builds use.
enum TorchSelection {
    private typealias Entry = (value: Double, index: Int)

    /// The indices of the k smallest (or largest) `values`, as the set `torch.topk(values, k,
    /// largest:)` returns (in no particular order).
    static func topK(_ values: [Double], k: Int, largest: Bool) -> [Int] {
        let n = values.count
        guard k > 0, n > 0 else { return [] }
        var queue: [Entry] = values.enumerated().map { ($0.element, $0.offset) }
        let before: (Entry, Entry) -> Bool = largest
            ? { ($0.value.isNaN && !$1.value.isNaN) || $0.value > $1.value }
            : { (!$0.value.isNaN && $1.value.isNaN) || $0.value < $1.value }
        queue.withUnsafeMutableBufferPointer { buffer in
            let selection = Selection(buffer: buffer, before: before)
            if k * 64 <= n {
                selection.heapSelect(0, k, n)
            } else {
                selection.nthElement(k - 1)
            }
        }
        return queue.prefix(k).map(\.index)
    }

    /// libstdc++'s algorithms over one buffer, with `before` as the strict weak order.
    private struct Selection {
        let buffer: UnsafeMutableBufferPointer<Entry>
        let before: (Entry, Entry) -> Bool

        func less(_ a: Int, _ b: Int) -> Bool { before(buffer[a], buffer[b]) }
        func swapAt(_ a: Int, _ b: Int) { buffer.swapAt(a, b) }

        /// `std::nth_element(first, first + nth, last)`: `__introselect` with depth 2 lg(n).
        func nthElement(_ nth: Int) {
            var first = 0, last = buffer.count
            guard nth < last else { return }
            var depthLimit = 2 * (Int.bitWidth - 1 - last.leadingZeroBitCount)
            while last - first > 3 {
                if depthLimit == 0 {
                    heapSelect(first, nth + 1, last)
                    swapAt(first, nth)
                    return
                }
                depthLimit -= 1
                let cut = partitionAroundPivot(first, last)
                if cut <= nth { first = cut } else { last = cut }
            }
            insertionSort(first, last)
        }

        /// `__unguarded_partition_pivot`: median of three moved to `first`, then partition.
        func partitionAroundPivot(_ first: Int, _ last: Int) -> Int {
            let middle = first + (last - first) / 2
            moveMedianToFirst(first, first + 1, middle, last - 1)
            var low = first + 1, high = last
            while true {
                while less(low, first) { low += 1 }
                high -= 1
                while less(first, high) { high -= 1 }
                if !(low < high) { return low }
                swapAt(low, high)
                low += 1
            }
        }

        func moveMedianToFirst(_ result: Int, _ a: Int, _ b: Int, _ c: Int) {
            if less(a, b) {
                if less(b, c) { swapAt(result, b) } else if less(a, c) { swapAt(result, c) } else { swapAt(result, a) }
            } else if less(a, c) {
                swapAt(result, a)
            } else if less(b, c) {
                swapAt(result, c)
            } else {
                swapAt(result, b)
            }
        }

        func insertionSort(_ first: Int, _ last: Int) {
            guard first < last else { return }
            var i = first + 1
            while i < last {
                let value = buffer[i]
                if before(value, buffer[first]) {
                    var j = i
                    while j > first { buffer[j] = buffer[j - 1]; j -= 1 }
                    buffer[first] = value
                } else {
                    var hole = i
                    while before(value, buffer[hole - 1]) { buffer[hole] = buffer[hole - 1]; hole -= 1 }
                    buffer[hole] = value
                }
                i += 1
            }
        }

        /// `__heap_select(first, middle, last)`: a heap of [first, middle) whose top each later
        /// entry that orders before it replaces.
        func heapSelect(_ first: Int, _ middle: Int, _ last: Int) {
            makeHeap(first, middle)
            var i = middle
            while i < last {
                if less(i, first) {
                    let value = buffer[i]
                    buffer[i] = buffer[first]
                    adjustHeap(first, 0, middle - first, value)
                }
                i += 1
            }
        }

        func makeHeap(_ first: Int, _ last: Int) {
            let length = last - first
            guard length >= 2 else { return }
            var parent = (length - 2) / 2
            while true {
                adjustHeap(first, parent, length, buffer[first + parent])
                if parent == 0 { return }
                parent -= 1
            }
        }

        func adjustHeap(_ first: Int, _ start: Int, _ length: Int, _ value: Entry) {
            let top = start
            var hole = start, child = start
            while child < (length - 1) / 2 {
                child = 2 * (child + 1)
                if less(first + child, first + child - 1) { child -= 1 }
                buffer[first + hole] = buffer[first + child]
                hole = child
            }
            if length & 1 == 0 && child == (length - 2) / 2 {
                child = 2 * (child + 1)
                buffer[first + hole] = buffer[first + child - 1]
                hole = child - 1
            }
            // __push_heap
            var parent = (hole - 1) / 2
            while hole > top && before(buffer[first + parent], value) {
                buffer[first + hole] = buffer[first + parent]
                hole = parent
                parent = (hole - 1) / 2
            }
            buffer[first + hole] = value
        }
    }
}

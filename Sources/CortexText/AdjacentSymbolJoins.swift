/// The join loop that SentencePiece and character-level BPE share: a run of UTF-8 text starts
/// as one symbol per scalar, and the best candidate join of two adjacent symbols (highest
/// priority, then leftmost) is made again and again until no pair is a candidate. Symbols are
/// byte ranges of the text, kept in a linked list, so a joined pair is the range from the left
/// one's start; candidates sit in a heap and are dropped once either side has changed.
///
/// - `initialId`: a single scalar's id (negative where it has none).
/// - `join`: the priority and id of joining two adjacent symbols (their ids and joined range),
///   or nil where they do not join. SentencePiece gives the joined piece's score; BPE gives
///   the negated merge rank.
/// - `emit`: each final symbol's id (negative where it has none) and bytes, in order.
func joinAdjacentSymbols(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, initialId: (Range<Int>) -> Int32,
                         join: (_ left: Int32, _ right: Int32, _ joined: Range<Int>) -> (priority: Float, id: Int32)?,
                         emit: (_ id: Int32, _ bytes: Range<Int>) -> Void) {
    guard !range.isEmpty else { return }
    var starts: [Int] = [], lengths: [Int] = [], ids: [Int32] = []
    starts.reserveCapacity(range.count)
    lengths.reserveCapacity(range.count)
    ids.reserveCapacity(range.count)
    var position = range.lowerBound
    while position < range.upperBound {
        let lead = bytes[position]
        let length = min(lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, range.upperBound - position)
        starts.append(position)
        lengths.append(length)
        ids.append(initialId(position..<(position + length)))
        position += length
    }
    let count = starts.count
    var previous = Array(-1..<(count - 1)), next = Array(1...count)
    next[count - 1] = -1
    var queue = BigramQueue()
    func consider(_ left: Int, _ right: Int) {
        guard left >= 0, right >= 0 else { return }
        let length = lengths[left] + lengths[right]
        guard let candidate = join(ids[left], ids[right], starts[left]..<(starts[left] + length)) else { return }
        queue.push(.init(score: candidate.priority, left: left, right: right, length: length, id: candidate.id))
    }
    for index in 1..<count { consider(index - 1, index) }
    while let best = queue.pop() {
        guard lengths[best.left] > 0, lengths[best.right] > 0, lengths[best.left] + lengths[best.right] == best.length,
              next[best.left] == best.right else { continue }
        lengths[best.left] = best.length
        ids[best.left] = best.id
        lengths[best.right] = 0
        next[best.left] = next[best.right]
        if next[best.right] >= 0 { previous[next[best.right]] = best.left }
        consider(previous[best.left], best.left)
        consider(best.left, next[best.left])
    }
    var index = 0
    while index >= 0 {
        emit(ids[index], starts[index]..<(starts[index] + lengths[index]))
        index = next[index]
    }
}

/// A max-heap of candidate joins: highest score first, then the leftmost.
struct BigramQueue {
    struct Bigram {
        let score: Float
        let left: Int
        let right: Int
        let length: Int
        let id: Int32
        func precedes(_ other: Bigram) -> Bool { score > other.score || (score == other.score && left < other.left) }
    }

    private var heap: [Bigram] = []

    mutating func push(_ bigram: Bigram) {
        heap.append(bigram)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < heap.count && heap[left].precedes(heap[best]) { best = left }
            if right < heap.count && heap[right].precedes(heap[best]) { best = right }
            if best == parent { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return top
    }
}

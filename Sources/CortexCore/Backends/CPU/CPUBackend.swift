import CCortexKernels
import Foundation

/// The CPU backend: OpenBLAS for matrix products, Swift SIMD loops for everything else, both
/// cores through ``CPUParallelism``.
public struct CPUBackend: Backend {
    public static let shared = CPUBackend()
    public var device: Device { .cpu }

    /// Element-wise work below this many elements per worker runs on the calling thread.
    static let elementwiseGrain = 1 << 15

    public func allocate(dtype: DType, count: Int) throws -> Storage {
        Storage.host(dtype: dtype, count: count)
    }

    public func upload(_ bytes: UnsafeRawBufferPointer, dtype: DType, count: Int) throws -> Storage {
        let storage = Storage.host(dtype: dtype, count: count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            storage.pointer.copyMemory(from: base, byteCount: min(bytes.count, count * dtype.byteCount))
        }
        return storage
    }

    public func download(_ storage: Storage, _ layout: Layout, into destination: UnsafeMutableRawPointer) throws {
        copyStrided(storage, layout, toPointer: destination, dtype: storage.dtype, Layout(contiguous: layout.shape))
    }

    public func copy(_ source: Storage, _ sourceLayout: Layout, to destination: Storage, _ destinationLayout: Layout) throws {
        copyStrided(source, sourceLayout, toPointer: destination.pointer, dtype: destination.dtype, destinationLayout)
    }

    public func fill(_ storage: Storage, _ layout: Layout, with value: Double) throws {
        withHostElementType(storage.dtype) { type in
            fillTyped(type, storage, layout, value)
        }
    }

    private func fillTyped<Element: HostElement>(_ type: Element.Type, _ storage: Storage, _ layout: Layout, _ value: Double) {
        let element = storage.dtype.isFloatingPoint ? Element(floatValue: Float(value)) : Element(integerValue: Int64(value))
        let base = storage.pointer.assumingMemoryBound(to: Element.self)
        let iteration = CoalescedIteration(shape: layout.shape, strides: [layout.strides])
        let inner = iteration.innerCount
        let innerStride = iteration.strides[0].last!
        CPUParallelism.forEachRange(iteration.rowCount, grain: max(1, CPUBackend.elementwiseGrain / max(inner, 1))) { rows in
            var offsets = [0]
            for row in rows {
                iteration.rowOffsets(row, into: &offsets, bases: [layout.offset])
                let start = base + offsets[0]
                if innerStride == 1 {
                    start.update(repeating: element, count: inner)
                } else {
                    for index in 0..<inner { start[index * innerStride] = element }
                }
            }
        }
    }

    /// Strided-to-strided copy with dtype conversion; whole rows move with memcpy when both
    /// sides are contiguous along the innermost axis and the dtype is unchanged.
    func copyStrided(_ source: Storage, _ sourceLayout: Layout, toPointer destination: UnsafeMutableRawPointer,
                     dtype destinationType: DType, _ destinationLayout: Layout) {
        let iteration = CoalescedIteration(shape: sourceLayout.shape,
                                           strides: [destinationLayout.strides, sourceLayout.strides])
        let inner = iteration.innerCount
        let destinationStride = iteration.strides[0].last!
        let sourceStride = iteration.strides[1].last!
        let bases = [destinationLayout.offset, sourceLayout.offset]
        let sameType = source.dtype == destinationType
        let elementSize = destinationType.byteCount
        let sourcePointer = UncheckedSendable(source.pointer)
        let destinationPointer = UncheckedSendable(destination)
        if sameType && elementSize == 4 && iteration.shape.count == 2 && destinationStride == 1
            && iteration.strides[0][0] == inner && iteration.strides[1][0] == 1 && sourceStride > 1 {
            // A transpose into contiguous rows (a transposed matrix made contiguous): tiled.
            let rows = iteration.shape[0]
            let from = sourcePointer.value.assumingMemoryBound(to: UInt32.self) + bases[1]
            let to = destinationPointer.value.assumingMemoryBound(to: UInt32.self) + bases[0]
            cortex_transpose32(from, sourceStride, to, rows, inner)
            return
        }
        if sameType && elementSize == 4 && !(destinationStride == 1 && sourceStride == 1) {
            // Transposes and strided views of 4-byte elements: the common non-contiguous case.
            let from = sourcePointer.value.assumingMemoryBound(to: UInt32.self)
            let to = destinationPointer.value.assumingMemoryBound(to: UInt32.self)
            CPUParallelism.forEachRange(iteration.rowCount, grain: max(1, CPUBackend.elementwiseGrain / max(inner, 1))) { rows in
                var offsets = [0, 0]
                for row in rows {
                    iteration.rowOffsets(row, into: &offsets, bases: bases)
                    let out = to + offsets[0]
                    let input = from + offsets[1]
                    for index in 0..<inner { out[index * destinationStride] = input[index * sourceStride] }
                }
            }
            return
        }
        if sameType && destinationStride == 1 && sourceStride == 1 {
            let grain = iteration.rowCount == 1 ? CPUBackend.elementwiseGrain : max(1, CPUBackend.elementwiseGrain / max(inner, 1))
            if iteration.rowCount == 1 {
                CPUParallelism.forEachRange(inner, grain: grain) { range in
                    (destinationPointer.value + (bases[0] + range.lowerBound) * elementSize)
                        .copyMemory(from: sourcePointer.value + (bases[1] + range.lowerBound) * elementSize,
                                    byteCount: range.count * elementSize)
                }
            } else {
                CPUParallelism.forEachRange(iteration.rowCount, grain: grain) { rows in
                    var offsets = [0, 0]
                    for row in rows {
                        iteration.rowOffsets(row, into: &offsets, bases: bases)
                        (destinationPointer.value + offsets[0] * elementSize)
                            .copyMemory(from: sourcePointer.value + offsets[1] * elementSize, byteCount: inner * elementSize)
                    }
                }
            }
            return
        }
        if destinationStride == 1 && sourceStride == 1,
           let convert = CPUBackend.contiguousConversion(from: source.dtype, to: destinationType) {
            let sourceSize = source.dtype.byteCount
            forEachRow(iteration, bases: bases) { offsets, count in
                convert(sourcePointer.value + offsets[1] * sourceSize, destinationPointer.value + offsets[0] * elementSize, count)
            }
            return
        }
        withHostElementType(source.dtype) { sourceType in
            withHostElementType(destinationType) { destinationElement in
                convertRows(sourceType, destinationElement, iteration: iteration, bases: bases,
                            source: source.pointer, destination: destination,
                            throughIntegers: !source.dtype.isFloatingPoint && !destinationType.isFloatingPoint)
            }
        }
    }

    /// Vectorised converters between float32 and the 16-bit float types, for contiguous rows.
    static func contiguousConversion(from source: DType, to destination: DType)
        -> ((UnsafeMutableRawPointer, UnsafeMutableRawPointer, Int) -> Void)? {
        switch (source, destination) {
        case (.float32, .float16):
            return { cortex_float_to_half($0.assumingMemoryBound(to: Float.self), $1.assumingMemoryBound(to: UInt16.self), $2) }
        case (.float16, .float32):
            return { cortex_half_to_float($0.assumingMemoryBound(to: UInt16.self), $1.assumingMemoryBound(to: Float.self), $2) }
        case (.float32, .bfloat16):
            return { cortex_float_to_bfloat($0.assumingMemoryBound(to: Float.self), $1.assumingMemoryBound(to: UInt16.self), $2) }
        case (.bfloat16, .float32):
            return { cortex_bfloat_to_float($0.assumingMemoryBound(to: UInt16.self), $1.assumingMemoryBound(to: Float.self), $2) }
        default:
            return nil
        }
    }

    private func convertRows<Source: HostElement, Destination: HostElement>(
        _ sourceType: Source.Type, _ destinationType: Destination.Type, iteration: CoalescedIteration, bases: [Int],
        source: UnsafeMutableRawPointer, destination: UnsafeMutableRawPointer, throughIntegers: Bool
    ) {
        let from = source.assumingMemoryBound(to: Source.self)
        let to = destination.assumingMemoryBound(to: Destination.self)
        let inner = iteration.innerCount
        let destinationStride = iteration.strides[0].last!
        let sourceStride = iteration.strides[1].last!
        var offsets = [0, 0]
        for row in 0..<iteration.rowCount {
            iteration.rowOffsets(row, into: &offsets, bases: bases)
            let out = to + offsets[0]
            let input = from + offsets[1]
            if throughIntegers {
                for index in 0..<inner { out[index * destinationStride] = Destination(integerValue: input[index * sourceStride].integerValue) }
            } else {
                for index in 0..<inner { out[index * destinationStride] = Destination(floatValue: input[index * sourceStride].floatValue) }
            }
        }
    }
}

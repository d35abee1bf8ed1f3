import Foundation
import Testing
import CortexCore
import CortexTestSupport
@testable import CortexCUDA

/// What of the CUDA backend can be checked without a GPU: loading the driver (and the clear
/// error where there is none), compiling every generated kernel with NVRTC for the H100's
/// sm_90 (NVRTC needs no GPU; Tools/fetch-pretrained.sh fetches it), and the caching
/// allocator's bookkeeping over a fake device.
@Suite struct CUDATests {
    @Test func missingDriverIsAClearError() throws {
        expectCortexError(["the CUDA driver could not be loaded", "/nonexistent/libcuda.so.1"]) {
            _ = try CUDADriver(candidates: ["/nonexistent/libcuda.so.1"])
        }
        // A library without the driver API is named with the symbol it lacks.
        expectCortexError(["lacks cuInit"]) { _ = try CUDADriver(candidates: ["libm.so.6"]) }
        do {
            let driver = try CUDADriver.shared()
            let count = try driver.deviceCount()
            print("CUDA driver \(driver.version), \(count) device(s)")
            #expect(throws: CortexError.self) { try driver.properties(of: count) }
        } catch let error as CortexError {
            print("no CUDA here: \(error)")
            #expect(error.description.contains("cuda"))
        }
        #expect(throws: CortexError.self) { try Tensor.ones([2]).to(.cuda(0)) }
    }

    @Test func everyKernelCompilesForTheH100() throws {
        let compiler: NVRTCCompiler
        do { compiler = try NVRTCCompiler.shared() } catch {
            print("skipping NVRTC compile checks: \(error) (run bash Tools/fetch-pretrained.sh)")
            return
        }
        print("NVRTC \(compiler.version.major).\(compiler.version.minor)")
        let kernels = CUDAKernelSource.all
        #expect(Set(kernels.map(\.name)).count == kernels.count, "kernel names must be distinct")
        for kernel in kernels {
            let cubin = try compiler.compile(kernel, architecture: "sm_90")
            #expect(cubin.starts(with: [0x7F, 0x45, 0x4C, 0x46]), "\(kernel.name): a CUBIN is an ELF image")
            let ptx = String(decoding: try compiler.compile(kernel, architecture: "sm_90", output: .ptx), as: UTF8.self)
            #expect(ptx.contains(".entry \(kernel.name)"), "\(kernel.name) is exported unmangled")
        }
        // A second request is served from the cache; a broken kernel reports NVRTC's log.
        #expect(try compiler.compile(kernels[0], architecture: "sm_90") == compiler.compile(kernels[0], architecture: "sm_90"))
        let broken = CUDAKernelSource(name: "broken", source: "extern \"C\" __global__ void broken(float *x) { x[0] = undefined_name; }")
        expectCortexError(["undefined_name"]) { _ = try compiler.compile(broken, architecture: "sm_90") }
    }

    /// A device that hands out increasing addresses and can be told to run out of memory.
    final class FakeMemory: DeviceMemory, @unchecked Sendable {
        var next: UInt64 = 0x1000, live: [UInt64: Int] = [:], limit = Int.max, freed = 0
        func allocate(bytes: Int) throws -> UInt64 {
            guard live.values.reduce(0, +) + bytes <= limit else {
                throw CortexError.deviceUnavailable(device: "fake", reason: "out of memory")
            }
            defer { next += UInt64(bytes) }
            live[next] = bytes
            return next
        }
        func free(_ pointer: UInt64) throws { live[pointer] = nil; freed += 1 }
    }

    @Test func cachingAllocatorReusesBlocks() throws {
        #expect(CUDACachingAllocator.roundedSize(1) == 512)
        #expect(CUDACachingAllocator.roundedSize(513) == 1024)
        #expect(CUDACachingAllocator.roundedSize(1 << 20) == 1 << 20)
        #expect(CUDACachingAllocator.roundedSize((1 << 20) + 1) == 2 << 20)
        let memory = FakeMemory()
        let allocator = CUDACachingAllocator(memory: memory)
        let first = try allocator.allocate(bytes: 1000)
        allocator.release(first)
        let again = try allocator.allocate(bytes: 900)
        #expect(again == first)
        #expect(allocator.stats.deviceAllocations == 1)
        let big = try allocator.allocate(bytes: 3 << 20)
        #expect(big.size == 4 << 20)
        #expect(allocator.stats.allocated == 1024 + (4 << 20) && allocator.stats.peakAllocated == allocator.stats.allocated)
        allocator.release(big)
        allocator.release(again)
        #expect(allocator.stats.cached == 1024 + (4 << 20) && allocator.stats.allocated == 0)
        // Out of memory with blocks cached: the cache goes back to the device and the request succeeds.
        memory.limit = 5 << 20
        let other = try allocator.allocate(bytes: 2 << 20)
        #expect(memory.freed == 2 && allocator.stats.cached == 0 && other.size == 2 << 20)
        memory.limit = 0
        #expect(throws: CortexError.self) { try allocator.allocate(bytes: 8 << 20) }
        #expect(throws: CortexError.self) { try allocator.allocate(bytes: -1) }
    }
}

/// The strides the kernels receive index the same elements as the CPU's layouts.
@Suite struct CUDAStridesTests {
    @Test func offsetsFollowBroadcastingAndViews() throws {
        // a: a transposed (3, 4) view of a (4, 3) matrix; b: a row of 4 broadcast over rows.
        let a = Layout(shape: [3, 4], strides: [1, 3]), b = Layout(contiguous: [4])
        let strides = try CUDAStrides(shape: [3, 4], a: a, b: b)
        #expect(MemoryLayout<CUDAStrides>.size == 8 * 24 + 4 && MemoryLayout<CUDAStrides>.alignment == 8)
        for index in 0..<12 {
            let (row, column) = index.quotientAndRemainder(dividingBy: 4)
            #expect(strides.offsets(index) == (row * 1 + column * 3, column) as (Int, Int))
        }
        // Size-1 axes broadcast with stride 0; missing leading axes too.
        let scalarRows = try CUDAStrides(shape: [2, 3, 5], a: Layout(contiguous: [2, 1, 5]), b: Layout(contiguous: [5]))
        #expect(scalarRows.offsets(7) == (2, 2))        // element (0, 1, 2)
        #expect(scalarRows.offsets(22) == (7, 2))       // element (1, 1, 2)
        #expect(throws: CortexError.self) { try CUDAStrides(shape: [3], a: Layout(contiguous: [4])) }
        #expect(throws: CortexError.self) { try CUDAStrides(shape: Array(repeating: 1, count: 9), a: Layout(contiguous: [1])) }
        #expect(CUDALaunch.grid(elements: 1, multiprocessors: 132) == 1)
        #expect(CUDALaunch.grid(elements: 1 << 30, multiprocessors: 132) == 32 * 132)
    }
}

@Suite struct CUBLASTests {
    @Test func missingLibraryAndGemmMapping() throws {
        expectCortexError(["cuBLAS could not be loaded", "libcublasLt.so.13"]) {
            _ = try CUBLAS(lt: ["/nonexistent/libcublasLt.so.13"], candidates: ["/nonexistent/libcublas.so.13"])
        }
        // Row-major (2 x 3) = (2 x 4)(4 x 3): cuBLAS computes the (3 x 2) column-major transpose.
        let plain = CUBLAS.rowMajorGemm(m: 2, n: 3, k: 4, aTransposed: false, bTransposed: false)
        #expect(plain.m == 3 && plain.n == 2 && plain.k == 4 && plain.leadingFirst == 3 && plain.leadingSecond == 4 && plain.leadingOutput == 3)
        #expect(plain.transposeFirst == 0 && plain.transposeSecond == 0)
        // B stored as a row-major (3 x 4) weight used transposed (a Linear layer).
        let linear = CUBLAS.rowMajorGemm(m: 2, n: 3, k: 4, aTransposed: false, bTransposed: true)
        #expect(linear.transposeFirst == 1 && linear.leadingFirst == 4)
    }
}

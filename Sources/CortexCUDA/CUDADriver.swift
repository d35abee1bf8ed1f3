import CCUDA
import CortexCore
import Foundation

/// The CUDA driver, loaded with dlopen the first time it is asked for (libcuda.so.1, or the
/// path in CORTEX_CUDA_DRIVER): device queries, the primary context, memory, streams, modules
/// and launches. Where there is no driver or no GPU, every entry point throws
/// `CortexError.deviceUnavailable` saying which (nothing of CUDA is linked at build time).
///
/// ```swift
/// let driver = try CUDADriver.shared()
/// print(try driver.deviceCount(), try driver.properties(of: 0).name)    // 1 NVIDIA H100 80GB HBM3
/// ```
public final class CUDADriver: @unchecked Sendable {
    let table: cortex_cuda_driver
    public let version: Int

    /// Library names tried in order (CORTEX_CUDA_DRIVER first where set).
    public static var candidates: [String] { RuntimeLibrary.candidates(["libcuda.so.1", "libcuda.so"], environment: "CORTEX_CUDA_DRIVER") }

    private static let loaded = LoadedOnce<CUDADriver>(device: "cuda")

    /// The process's driver, loaded and initialised once; the failure is remembered too.
    public static func shared() throws -> CUDADriver { try loaded.get { try CUDADriver(candidates: candidates) } }

    /// Loads the first of `candidates` that has the driver API and initialises it.
    public init(candidates: [String]) throws {
        var table = cortex_cuda_driver()
        try RuntimeLibrary.load(&table, candidates: candidates, device: "cuda", what: "the CUDA driver", cortex_cuda_load_driver)
        self.table = table
        var version: Int32 = 0
        try Self.check(table.cuInit(0), "cuInit", table: table)
        try Self.check(table.cuDriverGetVersion(&version), "cuDriverGetVersion", table: table)
        self.version = Int(version)
    }

    /// Throws unless `result` is CUDA_SUCCESS, naming the call and the driver's error.
    func check(_ result: CUresult, _ call: String) throws { try Self.check(result, call, table: table) }

    static func check(_ result: CUresult, _ call: String, table: cortex_cuda_driver) throws {
        guard result != 0 else { return }
        var name: UnsafePointer<CChar>?, text: UnsafePointer<CChar>?
        _ = table.cuGetErrorName?(result, &name)
        _ = table.cuGetErrorString?(result, &text)
        let reason = "\(call) failed with \(name.map { String(cString: $0) } ?? "CUresult \(result)")"
            + (text.map { ": " + String(cString: $0) } ?? "")
        throw CortexError.deviceUnavailable(device: "cuda", reason: reason)
    }

    public func deviceCount() throws -> Int {
        var count: Int32 = 0
        try check(table.cuDeviceGetCount(&count), "cuDeviceGetCount")
        return Int(count)
    }

    public struct Properties: Sendable, Equatable {
        public let name: String
        public let totalMemory: Int
        public let computeCapability: (major: Int, minor: Int)
        public let multiprocessors: Int
        /// NVRTC's architecture name for this device, e.g. "sm_90".
        public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

        public static func == (a: Properties, b: Properties) -> Bool {
            a.name == b.name && a.totalMemory == b.totalMemory && a.computeCapability == b.computeCapability && a.multiprocessors == b.multiprocessors
        }
    }

    func device(_ index: Int) throws -> CUdevice {
        let count = try deviceCount()
        guard index >= 0 && index < count else {
            throw CortexError.deviceUnavailable(device: "cuda:\(index)", reason: "this machine has \(count) CUDA device\(count == 1 ? "" : "s")")
        }
        var device: CUdevice = 0
        try check(table.cuDeviceGet(&device, Int32(index)), "cuDeviceGet")
        return device
    }

    public func properties(of index: Int) throws -> Properties {
        let device = try device(index)
        var name = [CChar](repeating: 0, count: 256)
        try check(table.cuDeviceGetName(&name, Int32(name.count), device), "cuDeviceGetName")
        var memory = 0
        try check(table.cuDeviceTotalMem(&memory, device), "cuDeviceTotalMem")
        func attribute(_ code: Int32) throws -> Int {
            var value: Int32 = 0
            try check(table.cuDeviceGetAttribute(&value, code, device), "cuDeviceGetAttribute")
            return Int(value)
        }
        return Properties(name: String(cCharacters: name), totalMemory: memory,
                          computeCapability: (try attribute(Int32(CORTEX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)),
                                              try attribute(Int32(CORTEX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))),
                          multiprocessors: try attribute(Int32(CORTEX_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)))
    }

    /// Makes device `index`'s primary context current on the calling thread.
    public func makeCurrent(_ index: Int) throws {
        var context: CUcontext?
        try check(table.cuDevicePrimaryCtxRetain(&context, try device(index)), "cuDevicePrimaryCtxRetain")
        try check(table.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    }

    // MARK: Memory

    public func allocate(bytes: Int) throws -> UInt64 {
        var pointer: CUdeviceptr = 0
        try check(table.cuMemAlloc(&pointer, max(bytes, 1)), "cuMemAlloc(\(bytes) bytes)")
        return pointer
    }

    public func free(_ pointer: UInt64) throws { try check(table.cuMemFree(pointer), "cuMemFree") }

    public func copy(toDevice destination: UInt64, from source: UnsafeRawPointer, bytes: Int) throws {
        try check(table.cuMemcpyHtoD(destination, source, bytes), "cuMemcpyHtoD")
    }

    public func copy(toHost destination: UnsafeMutableRawPointer, from source: UInt64, bytes: Int) throws {
        try check(table.cuMemcpyDtoH(destination, source, bytes), "cuMemcpyDtoH")
    }

    public func synchronize() throws { try check(table.cuCtxSynchronize(), "cuCtxSynchronize") }

    // MARK: Modules and launches

    /// A loaded module (a CUBIN from `NVRTCCompiler`) and its kernels by name.
    public func loadModule(_ image: [UInt8]) throws -> OpaquePointer {
        var module: CUmodule?
        try image.withUnsafeBytes { try check(table.cuModuleLoadData(&module, $0.baseAddress), "cuModuleLoadData") }
        return module!
    }

    public func function(_ name: String, in module: OpaquePointer) throws -> OpaquePointer {
        var function: CUfunction?
        try check(table.cuModuleGetFunction(&function, module, name), "cuModuleGetFunction(\(name))")
        return function!
    }

    /// Launches `function` on a grid of `grid` blocks of `block` threads with the given
    /// argument values (each passed by address, as cuLaunchKernel wants).
    public func launch(_ function: OpaquePointer, grid: (x: Int, y: Int), block: Int, sharedBytes: Int = 0,
                       arguments: [any BitwiseCopyable]) throws {
        // Each value copied out of its existential box into memory of its own size.
        func place<Value: BitwiseCopyable>(_ value: Value) -> UnsafeMutableRawPointer {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<Value>.stride, 8), alignment: 8)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(MemoryLayout<Value>.stride, 8))
            pointer.storeBytes(of: value, as: Value.self)
            return pointer
        }
        var storage = arguments.map { place($0) }
        defer { storage.forEach { $0.deallocate() } }
        let result = storage.withUnsafeMutableBufferPointer { buffer -> CUresult in
            buffer.withMemoryRebound(to: UnsafeMutableRawPointer?.self) { parameters in
                withUnsafePointer(to: table) {
                    cortex_cuda_launch($0, function, UInt32(grid.x), UInt32(grid.y), UInt32(block), UInt32(sharedBytes), nil,
                                       parameters.baseAddress)
                }
            }
        }
        try check(result, "cuLaunchKernel")
    }
}

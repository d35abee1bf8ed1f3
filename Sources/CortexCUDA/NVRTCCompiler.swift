import CCUDA
import CortexCore
import Foundation
import Synchronization

/// NVIDIA's runtime compiler, loaded with dlopen (libnvrtc.so.13 or .12, the path in
/// CORTEX_NVRTC, or the copy Tools/fetch-pretrained.sh unpacks): CUDA C source to CUBIN for a
/// device's architecture, or to PTX. Each (source, architecture, output) is compiled once per
/// process. NVRTC needs no GPU, so kernel sources are compiled in the tests everywhere.
///
/// ```swift
/// let cubin = try NVRTCCompiler.shared().compile(CUDAKernelSource.unary(.gelu), architecture: "sm_90")
/// ```
public final class NVRTCCompiler: @unchecked Sendable {
    let table: cortex_nvrtc
    public let version: (major: Int, minor: Int)
    private let cache = Mutex<[String: [UInt8]]>([:])

    public static var candidates: [String] {
        var names = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
        let fetched = (PretrainedDirectory.root as NSString).appendingPathComponent("nvidia/cuda_nvrtc/lib/libnvrtc.so.12")
        if FileManager.default.fileExists(atPath: fetched) { names.append(fetched) }
        return RuntimeLibrary.candidates(names, environment: "CORTEX_NVRTC")
    }

    private static let loaded = LoadedOnce<NVRTCCompiler>(device: "nvrtc")

    /// The process's compiler, loaded once; the failure is remembered too.
    public static func shared() throws -> NVRTCCompiler { try loaded.get { try NVRTCCompiler(candidates: candidates) } }

    public init(candidates: [String]) throws {
        NVRTCCompiler.preloadBuiltins(beside: candidates)
        var table = cortex_nvrtc()
        try RuntimeLibrary.load(&table, candidates: candidates, device: "nvrtc", what: "NVRTC", cortex_cuda_load_nvrtc)
        self.table = table
        var major: Int32 = 0, minor: Int32 = 0
        _ = table.nvrtcVersion(&major, &minor)
        version = (Int(major), Int(minor))
    }

    /// NVRTC opens its builtins library (libnvrtc-builtins.so.12.9) itself, found beside it
    /// through its $ORIGIN. Where that lookup is not NVRTC's own (under AddressSanitizer, whose
    /// dlopen stands between), it fails; loading the builtins first, by path, makes NVRTC's
    /// open find them by name.
    static func preloadBuiltins(beside candidates: [String]) {
        for candidate in candidates where candidate.hasPrefix("/") {
            let directory = (candidate as NSString).deletingLastPathComponent
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasPrefix("libnvrtc-builtins.so") {
                _ = dlopen(directory + "/" + name, RTLD_NOW | RTLD_GLOBAL)
            }
        }
    }

    public enum Output: String, Sendable { case cubin, ptx }

    /// Compiles `kernel` for `architecture` ("sm_90"); a compile error carries NVRTC's log.
    public func compile(_ kernel: CUDAKernelSource, architecture: String, output: Output = .cubin) throws -> [UInt8] {
        let key = "\(architecture)|\(output.rawValue)|\(kernel.source)"
        if let hit = cache.withLock({ $0[key] }) { return hit }
        var program: nvrtcProgram?
        try check(table.nvrtcCreateProgram(&program, kernel.source, kernel.name + ".cu", 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = table.nvrtcDestroyProgram(&program) }
        let options = ["-arch=\(architecture)", "--std=c++17", "-default-device"]
        let result = withCStrings(options) { table.nvrtcCompileProgram(program, Int32(options.count), $0) }
        if result != 0 {
            var size = 0
            _ = table.nvrtcGetProgramLogSize(program, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            _ = table.nvrtcGetProgramLog(program, &log)
            throw CortexError.invalidArgument(operation: "NVRTC", reason: "kernel \(kernel.name) does not compile for \(architecture): \(String(cCharacters: log))")
        }
        var size = 0
        var image: [UInt8]
        switch output {
        case .cubin:
            try check(table.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
            image = [UInt8](repeating: 0, count: size)
            try image.withUnsafeMutableBufferPointer { buffer in
                try buffer.withMemoryRebound(to: CChar.self) { try check(table.nvrtcGetCUBIN(program, $0.baseAddress), "nvrtcGetCUBIN") }
            }
        case .ptx:
            try check(table.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize")
            image = [UInt8](repeating: 0, count: size)
            try image.withUnsafeMutableBufferPointer { buffer in
                try buffer.withMemoryRebound(to: CChar.self) { try check(table.nvrtcGetPTX(program, $0.baseAddress), "nvrtcGetPTX") }
            }
        }
        cache.withLock { $0[key] = image }
        return image
    }

    func check(_ result: nvrtcResult, _ call: String) throws {
        guard result != 0 else { return }
        let text = table.nvrtcGetErrorString.flatMap { $0(result) }.map { String(cString: $0) } ?? "nvrtcResult \(result)"
        throw CortexError.deviceUnavailable(device: "nvrtc", reason: "\(call) failed: \(text)")
    }
}

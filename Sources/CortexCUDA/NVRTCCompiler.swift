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
        if let path = ProcessInfo.processInfo.environment["CORTEX_NVRTC"], !path.isEmpty { names.insert(path, at: 0) }
        return names
    }

    private static let loaded = Mutex<Result<NVRTCCompiler, CortexError>?>(nil)

    public static func shared() throws -> NVRTCCompiler {
        try loaded.withLock { state in
            if state == nil { state = Result { try NVRTCCompiler(candidates: candidates) }.mapError { $0 as? CortexError ?? .deviceUnavailable(device: "nvrtc", reason: "\($0)") } }
            return try state!.get()
        }
    }

    public init(candidates: [String]) throws {
        var error = [CChar](repeating: 0, count: 2048)
        var table = cortex_nvrtc()
        let status = withCStrings(candidates) { cortex_cuda_load_nvrtc($0, &table, &error, error.count) }
        guard status == 0 else {
            throw CortexError.deviceUnavailable(device: "nvrtc", reason: "NVRTC could not be loaded (\(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))")
        }
        self.table = table
        var major: Int32 = 0, minor: Int32 = 0
        _ = table.nvrtcVersion(&major, &minor)
        version = (Int(major), Int(minor))
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
            throw CortexError.invalidArgument(operation: "NVRTC", reason: "kernel \(kernel.name) does not compile for \(architecture): \(String(cString: log))")
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

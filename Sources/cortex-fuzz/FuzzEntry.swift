import CortexFuzzing
import Foundation

// Built two ways. Tools/fuzz.sh builds it with `-sanitize=fuzzer,address -D CORTEX_LIBFUZZER`:
// libFuzzer's own main drives the target named by CORTEX_FUZZ_TARGET. Built plainly (as
// `swift build` does), it lists the targets, writes their seeds and replays inputs.

#if CORTEX_LIBFUZZER
nonisolated(unsafe) var selected: FuzzTarget?

/// libFuzzer's driver, entered from the executable's main (SwiftPM links an executable's main
/// under the module's own name, `cortex_fuzz_main`, so libFuzzer's main is not used).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("cortex_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments, fuzzerTestOneInput)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    guard let name = environment["CORTEX_FUZZ_TARGET"], let target = FuzzTarget.named(name) else {
        FileHandle.standardError.write(Data("set CORTEX_FUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    selected = target
    if let corpus = environment["CORTEX_FUZZ_SEED_DIRECTORY"] {
        do {
            let count = try target.writeSeeds(into: corpus)
            if count > 0 { FileHandle.standardError.write(Data("\(name): \(count) seeds written to \(corpus)\n".utf8)) }
        } catch {
            FileHandle.standardError.write(Data("\(name): seeds could not be written: \(error)\n".utf8))
            exit(2)
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try selected!.run(bytes)
    } catch {
        // A finding: libFuzzer saves the input as crash-* when the process aborts.
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        abort()
    }
    return 0
}
#else
@main
struct FuzzReplay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let usage = """
            usage: cortex-fuzz list
                   cortex-fuzz seeds TARGET DIRECTORY   write TARGET's seeds into DIRECTORY
                   cortex-fuzz TARGET FILE...           run FILEs through TARGET (replay a finding)
            Fuzzing itself: Tools/fuzz.sh TARGET SECONDS
            """
        guard let first = arguments.first else { print(usage); exit(64) }
        if first == "list" {
            for target in FuzzTarget.all { print(target.name.padding(toLength: 16, withPad: " ", startingAt: 0) + target.summary) }
            return
        }
        do {
            if first == "seeds", arguments.count == 3, let target = FuzzTarget.named(arguments[1]) {
                print("\(try target.writeSeeds(into: arguments[2])) seeds written to \(arguments[2])")
                return
            }
            guard let target = FuzzTarget.named(first), arguments.count > 1 else {
                FileHandle.standardError.write(Data("\(usage)\ntargets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n".utf8))
                exit(64)
            }
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("Error: cannot read \(path)\n".utf8))
                    exit(1)
                }
                print("\(path): \(try target.run([UInt8](data)) ? "accepted" : "refused with a CortexError")")
            }
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            exit(1)
        }
    }
}
#endif

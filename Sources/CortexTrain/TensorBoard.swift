import CortexCore
import Foundation

/// One TensorBoard event: scalars (tag, value) at a step, or the file's version header.
public struct TensorBoardEvent: Sendable, Equatable {
    public var wallTime: Double
    public var step: Int
    public var fileVersion: String?
    public var scalars: [(tag: String, value: Float)]

    public init(wallTime: Double, step: Int, fileVersion: String? = nil, scalars: [(tag: String, value: Float)] = []) {
        (self.wallTime, self.step, self.fileVersion, self.scalars) = (wallTime, step, fileVersion, scalars)
    }

    public static func == (a: TensorBoardEvent, b: TensorBoardEvent) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion
            && a.scalars.map(\.tag) == b.scalars.map(\.tag) && a.scalars.map(\.value) == b.scalars.map(\.value)
    }
}

/// Writes TensorBoard event files, so `tensorboard --logdir runs/` shows a run's scalars.
///
/// The file is TensorFlow's record format: each record is its length (8 bytes, little-endian),
/// the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data. Each
/// record's data is an `Event` protobuf; the first holds `file_version` "brain.Event:2", the
/// others a `Summary` of `simple_value` scalars.
///
/// ```swift
/// let writer = try TensorBoardWriter(directory: "runs/mnist")
/// try writer.add(scalars: [("train/loss", 0.31)], step: 100)
/// ```
public final class TensorBoardWriter: @unchecked Sendable {
    /// The event file this writer appends to.
    public let path: String
    private let handle: FileHandle

    /// Creates `directory` if needed and starts a new event file in it
    /// (`events.out.tfevents.<seconds>.<host>.<pid>.cortex`).
    public init(directory: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CortexError.io(path: directory, reason: "cannot create the log directory: \(error.localizedDescription)")
        }
        let host = ProcessInfo.processInfo.hostName.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
        var name = "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host.isEmpty ? "localhost" : host).\(getpid()).cortex"
        var suffix = 1
        while FileManager.default.fileExists(atPath: directory + "/" + name) { name += ".\(suffix)"; suffix += 1 }
        path = directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CortexError.io(path: path, reason: "cannot create the event file")
        }
        self.handle = handle
        try write(TensorBoardEvent(wallTime: Date().timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { try? handle.close() }

    /// Appends one event of scalars at `step`.
    public func add(scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        guard !scalars.isEmpty else { return }
        try write(TensorBoardEvent(wallTime: wallTime, step: step, scalars: scalars))
    }

    func write(_ event: TensorBoardEvent) throws {
        do { try handle.write(contentsOf: TensorBoardRecords.record(TensorBoardRecords.encode(event))) } catch {
            throw CortexError.io(path: path, reason: "cannot append an event: \(error.localizedDescription)")
        }
    }
}

/// TensorFlow's record framing and the two protobuf messages TensorBoard's scalars need.
public enum TensorBoardRecords {
    /// Reads every event of an event file, checking both CRCs of every record.
    public static func read(_ path: String) throws -> [TensorBoardEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        let bytes = [UInt8](data)
        var events: [TensorBoardEvent] = [], offset = 0
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else { throw CortexError.invalidFile(path: path, reason: "ends inside a record header at byte \(offset)") }
            let length = Int(littleEndian(bytes, offset, 8))
            guard maskedCRC(Array(bytes[offset..<offset + 8])) == UInt32(littleEndian(bytes, offset + 8, 4)) else {
                throw CortexError.invalidFile(path: path, reason: "the length CRC of the record at byte \(offset) does not match")
            }
            guard length <= bytes.count - offset - 16 else {
                throw CortexError.invalidFile(path: path, reason: "the record at byte \(offset) claims \(length) bytes, past the end of the file")
            }
            let body = Array(bytes[offset + 12..<offset + 12 + length])
            guard maskedCRC(body) == UInt32(littleEndian(bytes, offset + 12 + length, 4)) else {
                throw CortexError.invalidFile(path: path, reason: "the data CRC of the record at byte \(offset) does not match")
            }
            events.append(try decode(body, path: path))
            offset += 16 + length
        }
        return events
    }

    /// `data` framed as one record.
    static func record(_ data: [UInt8]) -> Data {
        var length = [UInt8]()
        appendLittleEndian(&length, UInt64(data.count), 8)
        var out = length
        appendLittleEndian(&out, UInt64(maskedCRC(length)), 4)
        out += data
        appendLittleEndian(&out, UInt64(maskedCRC(data)), 4)
        return Data(out)
    }

    /// The `Event` protobuf: wall_time = 1 (double), step = 2 (int64), file_version = 3
    /// (string), summary = 5 (Summary { repeated Value value = 1 }, Value { tag = 1,
    /// simple_value = 2 (float) }).
    static func encode(_ event: TensorBoardEvent) -> [UInt8] {
        var out: [UInt8] = [0x09]
        appendLittleEndian(&out, event.wallTime.bitPattern, 8)
        out.append(0x10)
        appendVarint(&out, UInt64(bitPattern: Int64(event.step)))
        if let version = event.fileVersion { appendField(&out, 3, Array(version.utf8)) }
        if !event.scalars.isEmpty {
            var summary: [UInt8] = []
            for (tag, value) in event.scalars {
                var entry: [UInt8] = []
                appendField(&entry, 1, Array(tag.utf8))
                entry.append(0x15)
                appendLittleEndian(&entry, UInt64(value.bitPattern), 4)
                appendField(&summary, 1, entry)
            }
            appendField(&out, 5, summary)
        }
        return out
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> TensorBoardEvent {
        var event = TensorBoardEvent(wallTime: 0, step: 0)
        try fields(bytes, path: path) { number, wireType, payload, value in
            switch (number, wireType) {
            case (1, 1): event.wallTime = Double(bitPattern: value)
            case (2, 0): event.step = Int(Int64(bitPattern: value))
            case (3, 2): event.fileVersion = String(decoding: payload, as: UTF8.self)
            case (5, 2):
                try fields(payload, path: path) { number, wireType, entry, _ in
                    guard number == 1, wireType == 2 else { return }
                    var tag = "", scalar: Float?
                    try fields(entry, path: path) { number, wireType, text, bits in
                        if number == 1, wireType == 2 { tag = String(decoding: text, as: UTF8.self) }
                        if number == 2, wireType == 5 { scalar = Float(bitPattern: UInt32(bits)) }
                    }
                    if let scalar { event.scalars.append((tag, scalar)) }
                }
            default: break
            }
        }
        return event
    }

    /// Walks a protobuf message: (field number, wire type, length-delimited payload, scalar bits).
    private static func fields(_ bytes: [UInt8], path: String, _ body: (Int, Int, [UInt8], UInt64) throws -> Void) throws {
        var offset = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw CortexError.invalidFile(path: path, reason: "holds a truncated protobuf varint") }
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while offset < bytes.count {
            let key = try varint()
            let number = Int(key >> 3), wireType = Int(key & 7)
            switch wireType {
            case 0: try body(number, 0, [], try varint())
            case 1, 5:
                let width = wireType == 1 ? 8 : 4
                guard offset + width <= bytes.count else { throw CortexError.invalidFile(path: path, reason: "holds a truncated protobuf field \(number)") }
                let value = littleEndian(bytes, offset, width)
                offset += width
                try body(number, wireType, [], value)
            case 2:
                let length = Int(clamping: try varint())
                guard length <= bytes.count - offset else { throw CortexError.invalidFile(path: path, reason: "holds a truncated protobuf field \(number)") }
                let payload = Array(bytes[offset..<offset + length])
                offset += length
                try body(number, 2, payload, 0)
            default: throw CortexError.invalidFile(path: path, reason: "holds protobuf wire type \(wireType), which events do not use")
            }
        }
    }

    private static func appendField(_ out: inout [UInt8], _ number: Int, _ payload: [UInt8]) {
        out.append(UInt8(number << 3 | 2))
        appendVarint(&out, UInt64(payload.count))
        out += payload
    }

    private static func appendVarint(_ out: inout [UInt8], _ value: UInt64) {
        var value = value
        while value >= 0x80 { out.append(UInt8(value & 0x7f) | 0x80); value >>= 7 }
        out.append(UInt8(value))
    }

    private static func appendLittleEndian(_ out: inout [UInt8], _ value: UInt64, _ width: Int) {
        for index in 0..<width { out.append(UInt8((value >> (8 * UInt64(index))) & 0xff)) }
    }

    private static func littleEndian(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    /// TensorFlow's masked CRC-32C: the CRC rotated right by 15 bits plus 0xa282ead8.
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78).
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82f6_3b78 : value >> 1 }
        return value
    }
}

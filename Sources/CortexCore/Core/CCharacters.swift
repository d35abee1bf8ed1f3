extension String {
    /// The text of a NUL-terminated C character buffer (one a C library filled: an error
    /// message, a device or host name), decoded as UTF-8.
    public init(cCharacters buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The text a sequence may show so far: it ends before the first stop string, and while the
/// sequence runs it holds back an unfinished UTF-8 character and any tail that could be the
/// start of a stop string, so a stream never shows text that a later token takes back.
struct StopText {
    let stops: [String]
    /// Unicode scalars already shown.
    private(set) var shown = 0

    init(stops: [String]) { self.stops = stops }

    /// The new text to show, given all of the text decoded so far, and whether a stop string
    /// was reached. `final` releases what was held back.
    mutating func advance(_ text: String, final: Bool) -> (delta: String, stopped: Bool) {
        var scalars = Array(text.unicodeScalars)
        var stopped = false
        if let end = firstStop(in: text) {
            scalars = Array(text[..<end].unicodeScalars)
            stopped = true
        }
        var end = scalars.count
        if !stopped && !final {
            while end > 0 && scalars[end - 1] == "\u{FFFD}" { end -= 1 }
            let visible = String(String.UnicodeScalarView(scalars[..<end]))
            var held = 0
            for stop in stops {
                let stopScalars = Array(stop.unicodeScalars)
                for length in stride(from: min(stopScalars.count - 1, end), through: 1, by: -1)
                where visible.unicodeScalars.suffix(length).elementsEqual(stopScalars.prefix(length)) {
                    held = max(held, length)
                    break
                }
            }
            end -= held
        }
        guard end > shown else { return ("", stopped) }
        let delta = String(String.UnicodeScalarView(scalars[shown..<end]))
        shown = end
        return (delta, stopped)
    }

    /// Where the earliest stop string starts in `text`.
    func firstStop(in text: String) -> String.Index? {
        stops.compactMap { text.range(of: $0)?.lowerBound }.min()
    }
}

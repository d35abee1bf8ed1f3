/// Colour scales for attribution maps.
public enum Colormap: String, Sendable, CaseIterable {
    /// Blue for negative, white for zero, red for positive: signed attributions (IG, InputXGradient).
    case diverging
    /// Black through purple and orange to yellow (matplotlib's inferno): magnitudes (saliency, GradCAM).
    case inferno
    /// Black to white.
    case grey

    /// The colour at `value`, in [-1, 1] for diverging and [0, 1] otherwise (clamped).
    public func color(_ value: Float) -> RGB {
        let value = value.isFinite ? value : 0
        switch self {
        case .diverging:
            let t = min(max(value, -1), 1)
            return t >= 0 ? RGB(255, 255, 255).mixed(with: RGB(178, 24, 43), t) : RGB(255, 255, 255).mixed(with: RGB(33, 102, 172), -t)
        case .grey:
            let level = UInt8((min(max(value, 0), 1) * 255).rounded())
            return RGB(level, level, level)
        case .inferno:
            let t = min(max(value, 0), 1) * Float(Colormap.infernoStops.count - 1)
            let index = min(Int(t), Colormap.infernoStops.count - 2)
            return Colormap.infernoStops[index].mixed(with: Colormap.infernoStops[index + 1], t - Float(index))
        }
    }

    /// Whether the scale is for signed values.
    public var isSigned: Bool { self == .diverging }

    static let infernoStops = [RGB(0, 0, 4), RGB(40, 11, 84), RGB(101, 21, 110), RGB(159, 42, 99), RGB(212, 72, 66),
                               RGB(245, 125, 21), RGB(250, 193, 39), RGB(252, 255, 164)]
}

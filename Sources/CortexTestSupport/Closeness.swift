import CortexCore

/// Element-wise closeness as `torch.allclose`: |actual - expected| <= atol + rtol * |expected|,
/// NaNs equal to NaNs, infinities equal to themselves. Returns nil when close, else a message
/// naming the worst element.
public func closenessFailure(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6) throws -> String? {
    guard actual.shape == expected.shape else {
        return "shape \(actual.shape) differs from expected \(expected.shape)"
    }
    let got = try actual.toFloatArray(), want = try expected.toFloatArray()
    var worst: (index: Int, excess: Float)? = nil
    for index in 0..<got.count {
        let a = got[index], b = want[index]
        if a.isNaN && b.isNaN { continue }
        if a.isInfinite || b.isInfinite {
            if a != b { return "element \(index): \(a) vs expected \(b)" }
            continue
        }
        let excess = Swift.abs(a - b) - (atol + rtol * Swift.abs(b))
        if !(excess <= 0) && (worst == nil || excess > worst!.excess || excess.isNaN) { worst = (index, excess) }
    }
    guard let worst else { return nil }
    let failures = (0..<got.count).filter { !(Swift.abs(got[$0] - want[$0]) <= atol + rtol * Swift.abs(want[$0])) && !(got[$0].isNaN && want[$0].isNaN) }.count
    return "\(failures) of \(got.count) elements differ; worst at \(worst.index): \(got[worst.index]) vs expected \(want[worst.index]) (rtol \(rtol), atol \(atol))"
}

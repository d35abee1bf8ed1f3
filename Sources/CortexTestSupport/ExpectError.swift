import CortexCore
import Testing

/// Runs `body`, expecting it to throw a `CortexError` whose message contains every fragment;
/// records an issue (at the caller's line) when it succeeds or throws anything else.
public func expectCortexError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch let error as CortexError {
        for fragment in fragments {
            #expect(error.description.contains(fragment), "\"\(error)\" lacks \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a CortexError, got \(error)", sourceLocation: sourceLocation)
    }
}

import Foundation
import HTTPTypes
import Hummingbird

/// Outermost: every error leaves in OpenAI's shape (a route that does not exist, a method not
/// allowed, anything unexpected), and every answer is counted by endpoint and status.
struct ErrorShapeMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let endpoint = Self.endpoint(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.request(endpoint, status: response.status.code)
            return response
        } catch let error as APIError {
            metrics.request(endpoint, status: error.status.code)
            throw error
        } catch let error as HTTPResponseError {
            metrics.request(endpoint, status: error.status.code)
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            let message = error.status == .notFound ? "No route for \(request.method) \(request.uri.path)" : error.status.reasonPhrase
            throw APIError(status: error.status, message: message, type: type)
        } catch {
            metrics.request(endpoint, status: 500)
            throw APIError(status: .internalServerError, message: "\(error)", type: "server_error")
        }
    }

    /// The metric label of a path: known endpoints by name, anything else as "other".
    static func endpoint(_ path: String) -> String {
        switch path {
        case "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/models", "/health", "/metrics", "/": path
        default: "other"
        }
    }
}

/// Checks `Authorization: Bearer <key>` on everything but the chat page and /health.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/" || path == "/health" { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard Self.constantTimeEqual(Array(given.utf8), Array("Bearer \(key)".utf8)) else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    /// Equality that takes as long whatever the first difference (no timing oracle on the key).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

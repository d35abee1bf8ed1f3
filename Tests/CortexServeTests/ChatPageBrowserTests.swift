import CortexCore
import CortexServe
import CortexTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Chromium (Debian's `chromium`, headless) driven over the DevTools protocol on a pipe:
/// commands are JSON objects each ended by a NUL byte, written to the browser's fd 3; answers
/// and events come back on its fd 4.
final class DevToolsBrowser {
    let process: pid_t
    let input: Int32, output: Int32
    private var nextIdentifier = 0
    private var pending = [UInt8]()
    let profile = NSTemporaryDirectory() + "cortex-chromium-\(UUID().uuidString)"

    init(executable: String) throws {
        var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw CortexError.invalidArgument(operation: "DevToolsBrowser", reason: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
                         "--user-data-dir=\(profile)", "about:blank"]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
        guard status == 0 else { throw CortexError.invalidArgument(operation: "DevToolsBrowser", reason: "posix_spawn \(executable) failed: \(status)") }
        process = pid
        close(toBrowser[0])
        close(fromBrowser[1])
        input = toBrowser[1]
        output = fromBrowser[0]
    }

    deinit {
        kill(process, SIGKILL)
        var status: Int32 = 0
        waitpid(process, &status, 0)
        close(input)
        close(output)
        try? FileManager.default.removeItem(atPath: profile)
    }

    /// Sends a command and waits (up to `timeout` seconds) for its answer's `result`.
    func command(_ method: String, _ parameters: JSONValue = [:], session: String? = nil, timeout: Double = 180) async throws -> JSONValue {
        nextIdentifier += 1
        var message: [String: JSONValue] = ["id": JSONValue(nextIdentifier), "method": .string(method), "params": parameters]
        if let session { message["sessionId"] = .string(session) }
        let bytes = Array(JSONValue.object(message).encoded()) + [0]
        _ = bytes.withUnsafeBufferPointer { write(input, $0.baseAddress, $0.count) }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            while let end = pending.firstIndex(of: 0) {
                let text = Data(pending[..<end])
                pending.removeSubrange(...end)
                guard let answer = JSONValue.parse(text), answer["id"] == JSONValue(nextIdentifier) else { continue }
                if let error = answer["error"] { throw CortexError.invalidArgument(operation: method, reason: error.text) }
                return answer["result"] ?? .null
            }
            // Polled without waiting, sleeping between polls: the page's requests need the
            // concurrency pool's threads, which this must not hold.
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else {
                try await Task.sleep(for: .milliseconds(10))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(output, &buffer, buffer.count)
            guard count > 0 else { throw CortexError.invalidArgument(operation: method, reason: "the browser closed its pipe") }
            pending += buffer[0..<count]
        }
        throw CortexError.invalidArgument(operation: method, reason: "no answer within \(timeout) s")
    }

    /// The value of a JavaScript expression in the page.
    func evaluate(_ expression: String, session: String) async throws -> JSONValue {
        try await command("Runtime.evaluate", ["expression": .string(expression), "returnByValue": true, "awaitPromise": true], session: session)["result"]?["value"] ?? .null
    }
}

@Suite struct ChatPageBrowserTests {
    typealias F = ServeFixtures

    /// Loads the page in Chromium, types a message and presses Send, and finds the streamed
    /// answer in the DOM: the same text /v1/chat/completions gives for that conversation.
    @Test func chromiumStreamsAReplyIntoThePage() async throws {
        guard let chromium = Launcher.onPath("chromium") ?? Launcher.onPath("chromium-browser") else {
            print("skipping the chat page in a browser: no chromium on PATH (apt-get install chromium)")
            return
        }
        let server = try ServeFixtures.server(context: 1024)
        try await F.serve(server) { client in
            let port = try #require(client.port)
            let message = "Tell me about the weather"
            // What the page should show: its own request, made directly.
            let direct = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: ServeFixtures.jsonHeaders,
                                                  body: ServeFixtures.body(["messages": [["role": "user", "content": .string(message)]],
                                                                            "max_tokens": 128, "temperature": 0]))
            guard case let .string(expected)? = ServeFixtures.json(direct)["choices"]?.first?["message"]?["content"] else {
                Issue.record("no direct answer")
                return
            }
            let browser = try DevToolsBrowser(executable: chromium)
            let target = try await browser.command("Target.createTarget", ["url": .string("http://127.0.0.1:\(port)/")])
            guard case let .string(targetId)? = target["targetId"] else { Issue.record("no target: \(target.text)"); return }
            let attached = try await browser.command("Target.attachToTarget", ["targetId": .string(targetId), "flatten": true])
            guard case let .string(session)? = attached["sessionId"] else { Issue.record("not attached: \(attached.text)"); return }
            // Wait for the page (and its model name) to load, then type and send.
            var loaded = false
            for _ in 0..<1800 where !loaded {
                loaded = try await browser.evaluate("document.readyState === 'complete' && document.getElementById('model').textContent === 'tiny'",
                                              session: session) == .bool(true)
                if !loaded { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(loaded, "the page did not load")
            _ = try await browser.evaluate("document.getElementById('input').value = \(JSONValue.string(message).text); "
                                     + "document.getElementById('send').click(); true", session: session)
            var state = JSONValue.null
            for _ in 0..<1800 where state != "done" && state != "failed" {
                try await Task.sleep(for: .milliseconds(100))
                state = try await browser.evaluate("(document.querySelector('.message.assistant') || {dataset: {}}).dataset.state || null", session: session)
            }
            #expect(state == "done")
            let shown = try await browser.evaluate("document.querySelector('.message.assistant').textContent", session: session)
            let user = try await browser.evaluate("document.querySelector('.message.user').textContent", session: session)
            #expect(user == .string(message))
            #expect(shown == .string(expected))
            #expect(!expected.isEmpty)
        }
    }
}

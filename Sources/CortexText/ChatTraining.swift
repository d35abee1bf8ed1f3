import CortexCore
import Foundation

/// Conversations for supervised fine-tuning: each rendered by the model's chat template, with
/// the loss on the assistant's turns only (their text and the token that ends them), as TRL's
/// `assistant_only_loss` trains.
///
/// ```swift
/// let conversations = try ChatConversations.readJSONLines("chat.jsonl")   // {"messages": [...]} per line
/// let example = try template.trainingExample(conversations[0], tokenizer: tokenizer)
/// // example.ids: the whole rendered conversation; example.targets: the next token where an
/// // assistant wrote it, -100 (ignored) elsewhere.
/// ```
public enum ChatConversations {
    struct Line: Decodable {
        struct Message: Decodable {
            let role: String
            let content: String
        }
        let messages: [Message]
    }

    /// One conversation per non-blank line of `{"messages": [{"role": ..., "content": ...}, ...]}`;
    /// a line that is not such an object is an error naming its number.
    public static func readJSONLines(_ path: String) throws -> [[ChatTemplate.Message]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        var conversations: [[ChatTemplate.Message]] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else { continue }
            let parsed: Line
            do {
                parsed = try JSONDecoder().decode(Line.self, from: Data(line))
            } catch {
                throw CortexError.invalidFile(path: path, reason: "line \(index + 1) is not {\"messages\": [{\"role\": ..., \"content\": ...}]}: \(Self.describe(error))")
            }
            guard parsed.messages.contains(where: { $0.role == "assistant" }) else {
                throw CortexError.invalidFile(path: path, reason: "line \(index + 1) has no assistant message to learn from")
            }
            if let role = parsed.messages.first(where: { !["system", "user", "assistant"].contains($0.role) })?.role {
                throw CortexError.invalidFile(path: path, reason: "line \(index + 1) has a message of role \"\(role)\" (system, user or assistant)")
            }
            conversations.append(parsed.messages.map { ChatTemplate.Message(role: $0.role, content: $0.content) })
        }
        guard !conversations.isEmpty else { throw CortexError.invalidFile(path: path, reason: "holds no conversation") }
        return conversations
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(context): return context.debugDescription
        case let DecodingError.keyNotFound(key, _): return "no \"\(key.stringValue)\""
        case let DecodingError.typeMismatch(_, context): return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}

extension ChatTemplate {
    /// A conversation's tokens and next-token targets with every position outside the
    /// assistant's turns set to `ignoreIndex`. Each assistant turn is found as the tokens that
    /// rendering it adds to the conversation before it (with the assistant's turn opened).
    public func trainingExample(_ messages: [Message], tokenizer: ByteLevelBPETokenizer,
                                ignoreIndex: Int = -100) throws -> (ids: [Int], targets: [Int]) {
        let ids = try tokenizer.encode(render(messages, addGenerationPrompt: false))
        guard ids.count >= 2 else { return (ids, [Int](repeating: ignoreIndex, count: ids.count)) }
        var learned = [Bool](repeating: false, count: ids.count)
        for (index, message) in messages.enumerated() where message.role == "assistant" {
            let start = try tokenizer.encode(render(Array(messages[..<index]), addGenerationPrompt: true)).count
            let end = try tokenizer.encode(render(Array(messages[...index]), addGenerationPrompt: false)).count
            guard start <= end, end <= ids.count else { continue }
            for position in start..<end { learned[position] = true }
        }
        // Position p predicts token p + 1: learned where that token is the assistant's.
        var targets = [Int](repeating: ignoreIndex, count: ids.count)
        for position in 0..<(ids.count - 1) where learned[position + 1] { targets[position] = ids[position + 1] }
        return (ids, targets)
    }
}

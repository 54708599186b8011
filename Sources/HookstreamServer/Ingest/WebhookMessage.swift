import Foundation
import HookstreamCore
import NIOCore
import NIOHTTP1

/// The message a webhook's rules read: `source`, `method`, `path` (below `/hooks/<source>/`), `query`, `header`
/// (lower-case names, without credentials or signatures), `body` (parsed JSON, or a form's `payload` field), `form` (a form's
/// fields) and `text` (the raw body). Only the parts some rule of the source reads are built.
enum WebhookMessage {
    /// - Parameter signatureHeader: the header the source's `verify: { hmac: }` reads its signature from, hidden
    ///   from the rules as the presets' are (``hiddenHeaders``).
    static func make(
        source: String, subPath: String, head: HTTPRequestHead, target: RequestTarget, body: ByteBuffer, roots: Set<String>,
        signatureHeader: String? = nil
    ) throws(HTTPError) -> JSONValue {
        let mediaType = head.headers.first(name: "content-type").map(WebhookMessage.mediaType) ?? ""
        var parsedBody = JSONValue.null
        var form: [JSONValue.Member]?
        switch mediaType {
        case "application/json", "text/json":
            parsedBody = try parseJSON(body.readableBytesView)
        case "" where body.readableBytes == 0:
            break  // a webhook with no body at all: its headers are the message
        case "":
            parsedBody = try parseJSON(body.readableBytesView)
        case _ where mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"):
            parsedBody = try parseJSON(body.readableBytesView)
        case "application/x-www-form-urlencoded":
            let fields = try formFields(
                Array(body.readableBytesView), windows1252: WebhookMessage.isWindows1252(head.headers.first(name: "content-type") ?? ""))
            form = fields.map { JSONValue.Member($0.name, .string($0.value)) }
            // GitHub and others can send the JSON payload as a form field named `payload`.
            if let payload = fields.first(where: { $0.name == "payload" })?.value {
                parsedBody = try parseJSON(Array(payload.utf8))
            }
        case _ where mediaType.hasPrefix("text/"):
            guard String(validating: body.readableBytesView, as: UTF8.self) != nil else {
                throw HTTPError(.badRequest, code: "malformed_body", "the text body is not valid UTF-8")
            }
        default:
            throw HTTPError(
                .unsupportedMediaType, code: "unsupported_media_type",
                "Content-Type '\(mediaType)' is not supported; send application/json, a form, or text")
        }
        // What the rules read, in one pass over the few roots they name: comparing short strings costs less than
        // hashing each part's name for a set lookup.
        var reads: (method: Bool, path: Bool, header: Bool, query: Bool, form: Bool, text: Bool) = (false, false, false, false, false, false)
        for root in roots {
            switch root {
            case "method": reads.method = true
            case "path": reads.path = true
            case "header": reads.header = true
            case "query": reads.query = true
            case "form": reads.form = true
            case "text": reads.text = true
            default: break
            }
        }
        var members: [JSONValue.Member] = [.init("source", .string(source)), .init("body", parsedBody)]
        if reads.method { members.append(.init("method", .string(head.method.rawValue))) }
        if reads.path { members.append(.init("path", .string(subPath))) }
        if reads.header {
            var headers: [JSONValue.Member] = []
            for (name, value) in head.headers {
                let key = name.lowercased()
                if WebhookMessage.hiddenHeaders.contains(key) || key == signatureHeader { continue }
                headers.append(.init(key, .string(value)))
            }
            members.append(.init("header", .object(headers)))
        }
        if reads.query {
            var query: [JSONValue.Member] = []
            for (name, value) in target.query where name != "access_token" { query.append(.init(name, .string(value))) }
            members.append(.init("query", .object(query)))
        }
        if reads.form { members.append(.init("form", form.map(JSONValue.object) ?? .null)) }
        if reads.text { members.append(.init("text", .string(String(decoding: body.readableBytesView, as: UTF8.self)))) }
        return .object(members)
    }

    /// A `Content-Type`'s media type, lower-cased, without parameters or surrounding spaces: `application/json` for
    /// `Application/JSON ; charset=utf-8`. On the bytes: the separators are ASCII, and media types are (RFC 9110 §8.3.1).
    /// Request headers never shown to rules, since a rule could publish them to subscribers: those that carry a
    /// credential (HTTP's own, and GitLab's token, which is the source's shared secret itself), and the signature
    /// headers of the presets. A signature with its body lets whoever reads the event post the delivery again, and
    /// GitHub's signs no time and names the delivery in a header it does not sign.
    static let hiddenHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "x-gitlab-token",
        "x-hub-signature", "x-hub-signature-256", "stripe-signature", "x-slack-signature", "webhook-signature", "svix-signature",
    ]

    /// A form's fields, percent-decoded: UTF-8 text, or Windows-1252 when the form says `charset=` ISO-8859-1 or
    /// Windows-1252 (as older senders post; browsers read ISO-8859-1 as Windows-1252 too).
    /// - Throws: `400 malformed_body` for a UTF-8 form whose bytes are not UTF-8 once decoded.
    static func formFields(_ body: [UInt8], windows1252: Bool) throws(HTTPError) -> [(name: String, value: String)] {
        func text(_ part: ArraySlice<UInt8>) throws(HTTPError) -> String {
            let bytes = RequestTarget.percentDecodedBytes(part, plusIsSpace: true)
            if windows1252, let decoded = String(bytes: bytes, encoding: .windowsCP1252) { return decoded }
            guard let decoded = String(validating: bytes, as: UTF8.self) else {
                throw HTTPError(
                    .badRequest, code: "malformed_body",
                    "a form field is not UTF-8 once percent-decoded (a form in another encoding says so: charset=windows-1252)")
            }
            return decoded
        }
        var fields: [(name: String, value: String)] = []
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            fields.append((try text(parts[0]), parts.count > 1 ? try text(parts[1]) : ""))
        }
        return fields
    }

    /// Whether a `Content-Type` names ISO-8859-1 or Windows-1252 as its charset.
    static func isWindows1252(_ contentType: String) -> Bool {
        let lowered = contentType.lowercased()
        guard let range = lowered.range(of: "charset=") else { return false }
        let charset = lowered[range.upperBound...].prefix { $0 != ";" && $0 != " " }.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return ["iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252"].contains(charset)
    }

    static func mediaType(_ contentType: String) -> String {
        // The usual header, as most senders write it, needs no copy.
        if contentType == "application/json" { return contentType }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(contentType.utf8.count)
        for byte in contentType.utf8 {
            if byte == UInt8(ascii: ";") { break }
            if bytes.isEmpty && (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")) { continue }
            bytes.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
        }
        while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func parseJSON(_ bytes: some Collection<UInt8>) throws(HTTPError) -> JSONValue {
        guard !bytes.isEmpty else {
            throw HTTPError(.badRequest, code: "malformed_body", "the request body is empty; send a JSON document")
        }
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw HTTPError(.badRequest, code: "malformed_body", "the body is not valid JSON: \(error)")
        }
    }
}

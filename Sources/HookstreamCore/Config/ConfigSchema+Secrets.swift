import Yams
#if canImport(Glibc)
import Glibc
#endif
import Foundation

extension ConfigSchema {
    /// The forms a secret may take, for messages.
    static let secretForms = "a string, { value: ... }, { env: NAME }, { file: PATH } or { credential: NAME }"

    /// A secret: a string, or `{ value: ... }`, `{ env: NAME }`, `{ file: PATH }`, `{ credential: NAME }` (a file
    /// in `$CREDENTIALS_DIRECTORY`, where systemd's `LoadCredential=` puts it). Files lose a final newline.
    /// `isPublic`: material read in a secret's forms that is not secret (a certificate chain, a public key), whose
    /// file every user may read without a warning.
    func readSecret(_ node: Node, _ what: String, isPublic: Bool = false) -> String? {
        var secret: String?
        if case .scalar = node {
            secret = reader.string(node, what)
        } else if case .mapping(let m) = node {
            let entries = reader.entries(m, allowed: ["value", "env", "file", "credential"], in: what)
            guard entries.count == 1, let (kind, _, value) = entries.first else {
                if entries.count != 1 { reader.error(at: node, "\(what) must have exactly one of value, env, file, credential") }
                return nil
            }
            guard let text = reader.string(value, "\(what).\(kind)") else { return nil }
            switch kind {
            case "value": secret = text
            case "env":
                guard let v = environment[text] else {
                    reader.error(at: value, "environment variable \(text) (for \(what)) is not set")
                    return nil
                }
                secret = v
            case "file":
                let path = text.hasPrefix("/") ? text : (configDirectory.isEmpty ? text : configDirectory + "/" + text)
                secret = readSecretFile(path, at: value, what, isPublic: isPublic)
            case "credential":
                guard !text.isEmpty, !text.contains("/"), text != ".", text != ".." else {
                    reader.error(at: value, "\(what).credential must be a credential name (no '/'), found '\(text)'")
                    return nil
                }
                guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
                    reader.error(
                        at: value,
                        "\(what) names the credential '\(text)', but $CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit with LoadCredential=\(text):...)")
                    return nil
                }
                secret = readSecretFile(directory + "/" + text, at: value, what, isPublic: isPublic)
            default: break
            }
        } else {
            reader.error(at: node, "\(what) must be \(ConfigSchema.secretForms), found \(reader.kind(of: node))")
        }
        if let s = secret, s.isEmpty {
            reader.error(at: node, "\(what) must not be empty")
            return nil
        }
        return secret
    }

    /// One secret, or a list of them (rotation: any one is accepted).
    func readSecrets(_ node: Node, _ what: String) -> [String]? {
        guard case .sequence(let list) = node else { return readSecret(node, what).map { [$0] } }
        guard !list.isEmpty else {
            reader.error(at: node, "\(what) must name at least one secret")
            return nil
        }
        var secrets: [String] = []
        for (i, element) in list.enumerated() {
            guard let secret = readSecret(element, "\(what)[\(i)]") else { return nil }
            secrets.append(secret)
        }
        return secrets
    }

    private func readSecretFile(_ path: String, at node: Node, _ what: String, isPublic: Bool) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            reader.error(at: node, "cannot read the secret file '\(path)' (for \(what))")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            reader.error(at: node, "the secret file '\(path)' (for \(what)) is not UTF-8 text")
            return nil
        }
        // As ssh does for a private key, though without refusing it: a secret any user of the host can read is one
        // any process on it can use.
        var status = stat()
        if !isPublic, stat(path, &status) == 0, status.st_mode & mode_t(S_IROTH | S_IWOTH) != 0 {
            reader.warning(
                at: node,
                "the secret file '\(path)' (for \(what)) can be read or written by every user of this host (mode \(String(status.st_mode & 0o777, radix: 8))): 'chmod o-rw \(path)', or give it to hookstream as a systemd credential ({ credential: NAME } with LoadCredential=)")
        }
        // Scalars, not Characters: "\r\n" is one Character, equal to neither "\n" nor "\r".
        var scalars = Substring(text).unicodeScalars
        while let last = scalars.last, last == "\n" || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }

    enum AccountKind { case user, group }

    /// A user or group, by name or number, resolved to its id now so that a typo is a config error.
    func readAccountID(_ node: Node, _ what: String, kind: AccountKind) -> UInt32? {
        guard let text = reader.string(node, what) else { return nil }
        if let id = UInt32(text) { return id }
        switch kind {
        case .user:
            if let entry = getpwnam(text) { return entry.pointee.pw_uid }
            reader.error(at: node, "\(what): there is no user named '\(text)' on this host")
        case .group:
            if let entry = getgrnam(text) { return entry.pointee.gr_gid }
            reader.error(at: node, "\(what): there is no group named '\(text)' on this host")
        }
        return nil
    }
}

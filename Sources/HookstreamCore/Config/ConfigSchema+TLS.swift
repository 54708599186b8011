import Foundation
import SwiftASN1
import X509
import Yams

extension ConfigSchema {
    /// `server.tls: { certificate: { file: ... }, key: { credential: tls-key } }`: both in any secret form, PEM.
    /// The certificate chain and the key are parsed now, and must belong together, so that a wrong file is a config
    /// error with its position rather than a failed handshake later.
    func readTLS(_ node: Node) -> Configuration.TLS? {
        guard let m = reader.mapping(node, "server.tls") else { return nil }
        var certificate: (text: String, node: Node)?
        var key: (text: String, node: Node)?
        for (k, _, v) in reader.entries(m, allowed: ["certificate", "key"], in: "server.tls") {
            guard let text = readSecret(v, "server.tls.\(k)", isPublic: k == "certificate") else { continue }
            if k == "certificate" { certificate = (text, v) } else { key = (text, v) }
        }
        if m["certificate"] == nil { reader.error(at: node, "server.tls needs a certificate (a PEM file with the certificate chain)") }
        if m["key"] == nil { reader.error(at: node, "server.tls needs a key (the certificate's PEM private key, in any secret form)") }
        guard let certificate, let key else { return nil }
        let chain: [Certificate]
        do {
            chain = try PEMDocument.parseMultiple(pemString: certificate.text).filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
        } catch {
            reader.error(at: certificate.node, "server.tls.certificate is not a PEM certificate chain: \(error)")
            return nil
        }
        guard let leaf = chain.first else {
            reader.error(at: certificate.node, "server.tls.certificate holds no certificate (-----BEGIN CERTIFICATE-----)")
            return nil
        }
        let privateKey: Certificate.PrivateKey
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: key.text)
        } catch {
            reader.error(at: key.node, "server.tls.key is not a PEM private key (RSA, EC or Ed25519)")
            return nil
        }
        guard privateKey.publicKey == leaf.publicKey else {
            reader.error(at: key.node, "server.tls.key does not belong to the certificate (their public keys differ)")
            return nil
        }
        return Configuration.TLS(certificateChainPEM: certificate.text, privateKeyPEM: key.text)
    }
}

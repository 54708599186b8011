import Crypto

/// The hash functions a generic HMAC signature may use.
public enum HMACAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha1
    case sha256
    case sha512

    /// The HMAC of `parts`, concatenated, under `key`.
    func authenticationCode(key: [UInt8], _ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha1: return HMACAlgorithm.code(HMAC<Insecure.SHA1>(key: key), parts)
        case .sha256: return HMACAlgorithm.code(HMAC<SHA256>(key: key), parts)
        case .sha512: return HMACAlgorithm.code(HMAC<SHA512>(key: key), parts)
        }
    }

    private static func code<H: HashFunction>(_ hmac: HMAC<H>, _ parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        var hmac = hmac
        for part in parts { hmac.update(data: part) }
        return Array(hmac.finalize())
    }
}

//! The link's mutual challenge: each side proves it knows the token without sending it.
//!
//! A bearer token in the upgrade request is handed to whatever listens on the link port; a stray
//! or rogue process there (an old sidecar, anything that grabbed 7780 first) would learn it. So
//! a client that speaks the challenge never sends the token:
//!
//! 1. The client's upgrade request carries a fresh random nonce in [`NONCE_HEADER`] and nothing
//!    secret.
//! 2. The server answers `101` with its own nonce in [`NONCE_HEADER`] and
//!    [`server_proof`]`(token, client nonce, server nonce)` in [`PROOF_HEADER`].
//! 3. The client checks that proof ([`verify`]). Only if it holds does it send anything: first a
//!    text frame [`ClientProof`] with [`client_proof`], then its hello. Otherwise it closes
//!    having sent only the nonce.
//! 4. The server checks the client proof before it registers the client or sends it anything.
//!
//! Both proofs are HMAC-SHA256 under the token over distinct labels and both nonces, so neither
//! can be replayed in the other direction or on another connection, and a server that does not
//! know the token learns nothing it could use. (Someone who can relay between the client and the
//! real sidecar could still sit in the middle of the plain-text session; that needs the port and
//! the real server at once, and is what loopback binding is for.)

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Request and response header carrying each side's nonce (lowercase hex).
pub const NONCE_HEADER: &str = "x-avatar-link-nonce";
/// Response header carrying the server's proof (lowercase hex).
pub const PROOF_HEADER: &str = "x-avatar-link-proof";
/// Bytes of randomness in a nonce (hex-encoded: twice as many characters).
pub const NONCE_BYTES: usize = 32;

const SERVER_LABEL: &[u8] = b"avatar-link/1 server\0";
const CLIENT_LABEL: &[u8] = b"avatar-link/1 client\0";
const BLOCK: usize = 64;

/// The client's first frame after the upgrade: `{"type":"auth","proof":"<hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "auth")]
pub struct ClientProof {
    pub proof: String,
}

/// A fresh random nonce, hex-encoded.
pub fn new_nonce() -> String {
    hex(&rand::random::<[u8; NONCE_BYTES]>())
}

/// True for a nonce this module would accept from the other side: exactly [`NONCE_BYTES`]
/// random bytes in lowercase hex. Anything else is refused before any HMAC is computed.
pub fn is_valid_nonce(nonce: &str) -> bool {
    nonce.len() == NONCE_BYTES * 2
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the server sends to show it knows `token`.
pub fn server_proof(token: &str, client_nonce: &str, server_nonce: &str) -> String {
    proof(SERVER_LABEL, token, client_nonce, server_nonce)
}

/// What the client sends, after checking the server's proof, to show it knows `token`.
pub fn client_proof(token: &str, client_nonce: &str, server_nonce: &str) -> String {
    proof(CLIENT_LABEL, token, client_nonce, server_nonce)
}

fn proof(label: &[u8], token: &str, client_nonce: &str, server_nonce: &str) -> String {
    let mut message = Vec::with_capacity(label.len() + client_nonce.len() + server_nonce.len() + 1);
    message.extend_from_slice(label);
    message.extend_from_slice(client_nonce.as_bytes());
    // Both nonces have a fixed length when valid; the separator keeps invalid ones unambiguous.
    message.push(b'.');
    message.extend_from_slice(server_nonce.as_bytes());
    hex(&hmac_sha256(token.as_bytes(), &message))
}

/// Compares a proof without an early exit, so timing does not tell how much of a guess was right.
pub fn verify(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 (RFC 2104), written out over `sha2` because it is twenty lines and keeps this
/// crate's dependencies at what both the GPL plugin and the sidecar already build.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1: 20-byte key of 0x0b, "Hi There".
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: short key.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn proofs_bind_token_both_nonces_and_direction() {
        let (cn, sn) = (new_nonce(), new_nonce());
        assert!(is_valid_nonce(&cn) && is_valid_nonce(&sn) && cn != sn);
        let server = server_proof("tok", &cn, &sn);
        assert!(verify(&server, &server_proof("tok", &cn, &sn)));
        assert!(!verify(&server, &server_proof("other", &cn, &sn)));
        assert!(!verify(&server, &server_proof("tok", &sn, &cn)));
        // A server proof is not a client proof (no reflection).
        assert!(!verify(&server, &client_proof("tok", &cn, &sn)));
        assert!(!server.contains("tok") && server.len() == 64);
    }

    #[test]
    fn malformed_nonces_and_proofs_are_refused() {
        assert!(!is_valid_nonce(""));
        assert!(!is_valid_nonce(&"A".repeat(64)));
        assert!(!is_valid_nonce(&"a".repeat(63)));
        assert!(!verify("abcd", "abc"));
        let frame = serde_json::to_string(&ClientProof { proof: "ab".into() }).unwrap();
        assert_eq!(frame, r#"{"type":"auth","proof":"ab"}"#);
    }
}

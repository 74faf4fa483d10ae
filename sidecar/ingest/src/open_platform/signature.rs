//! The push signature of the Douyin Open Platform (`x-signature`).
//!
//! The platform signs every push with the app secret: the four `x-*` request headers other than
//! the signature (`x-msg-type`, `x-nonce-str`, `x-roomid`, `x-timestamp`) sorted by name and
//! joined as `name=value&name=value…`, then the raw request body, then the app secret; the MD5 of
//! those bytes, standard base64 with padding, is `x-signature`. The official example (headers
//! `x-nonce-str: 123456`, `x-timestamp: 456789`, `x-roomid: 268`, `x-msg-type: live_gift`, body
//! `abc123你好`, secret `123abc`) signs to `PDcKhdlsrKEJif6uMKD2dw==`; the unit tests check it.
//!
//! MD5 is the platform's choice, not ours: it is what authenticates a push, so the comparison is
//! constant-time and the timestamp window + replay memory ([`super::guard`]) do the rest.

use base64::Engine;
use md5::{Digest, Md5};

/// The signed headers, already in the order the signature uses (sorted by name).
pub const SIGNED_HEADERS: [&str; 4] = ["x-msg-type", "x-nonce-str", "x-roomid", "x-timestamp"];

/// The signature of a push with these `(header name, value)` pairs (any order), body and secret.
pub fn sign(headers: &[(&str, &str)], body: &[u8], secret: &str) -> String {
    let mut sorted = headers.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut md5 = Md5::new();
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            md5.update(b"&");
        }
        md5.update(name.as_bytes());
        md5.update(b"=");
        md5.update(value.as_bytes());
    }
    md5.update(body);
    md5.update(secret.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(md5.finalize())
}

/// `true` when `given` equals `expected`, compared in time that does not depend on where they
/// differ (the length of a base64 MD5 is public: always 24).
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFICIAL: [(&str, &str); 4] = [
        ("x-nonce-str", "123456"),
        ("x-timestamp", "456789"),
        ("x-roomid", "268"),
        ("x-msg-type", "live_gift"),
    ];

    #[test]
    fn the_platforms_documented_example_signs_as_documented() {
        let sig = sign(&OFFICIAL, "abc123你好".as_bytes(), "123abc");
        assert_eq!(sig, "PDcKhdlsrKEJif6uMKD2dw==");
    }

    #[test]
    fn signature_is_md5_base64_of_sorted_headers_body_and_secret() {
        // Built by hand from the documented recipe, independently of `sign`'s sorting.
        let text = "x-msg-type=live_comment&x-nonce-str=n0nce&x-roomid=7312345678901234567\
                    &x-timestamp=1700000000123[{\"msg_id\":\"1\"}]s3cret";
        let expected = base64::engine::general_purpose::STANDARD.encode(Md5::digest(text));
        let headers = [
            ("x-timestamp", "1700000000123"),
            ("x-roomid", "7312345678901234567"),
            ("x-nonce-str", "n0nce"),
            ("x-msg-type", "live_comment"),
        ];
        assert_eq!(sign(&headers, br#"[{"msg_id":"1"}]"#, "s3cret"), expected);
        assert_eq!(expected.len(), 24);
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let good = sign(&OFFICIAL, b"[]", "secret");
        assert_ne!(sign(&OFFICIAL, b"[ ]", "secret"), good);
        assert_ne!(sign(&OFFICIAL, b"[]", "secreT"), good);
        let mut other = OFFICIAL;
        other[2].1 = "269";
        assert_ne!(sign(&other, b"[]", "secret"), good);
    }

    #[test]
    fn comparison_needs_an_exact_match() {
        assert!(matches(
            "PDcKhdlsrKEJif6uMKD2dw==",
            "PDcKhdlsrKEJif6uMKD2dw=="
        ));
        assert!(!matches(
            "PDcKhdlsrKEJif6uMKD2dw==",
            "PDcKhdlsrKEJif6uMKD2dw="
        ));
        assert!(!matches(
            "PDcKhdlsrKEJif6uMKD2dw==",
            "pDcKhdlsrKEJif6uMKD2dw=="
        ));
        assert!(!matches("PDcKhdlsrKEJif6uMKD2dw==", ""));
    }
}

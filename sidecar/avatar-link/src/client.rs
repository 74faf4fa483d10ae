//! The client's half of the link handshake, shared by every client (the OBS plugin, the
//! live2d-bridge, the end-to-end tests' avatar), so each proves the token and introduces itself
//! the same way.
//!
//! The steps ([`auth`] explains why the token itself is never sent):
//! 1. a fresh [`Challenge`]: its [`nonce`](Challenge::nonce) goes into the upgrade request's
//!    [`auth::NONCE_HEADER`];
//! 2. [`Challenge::answer`] checks the server's proof from the `101` response and, only if it
//!    holds, gives the text frame with the client's proof, to be sent first;
//! 3. then the client's [`hello`], which tells the server whether this client owns the audio
//!    clock.
//!
//! This part is sans-I/O. With the `connect` feature, [`connect`] does all three over
//! `tokio-tungstenite`; the sidecar, which only serves the link, builds without it.

use crate::auth::{self, ClientProof};
use crate::{Report, PROTOCOL_VERSION};

#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "connect")]
pub use self::connect::{connect, ConnectError, Socket};

/// The server did not prove that it knows the token: the client must close having sent only
/// its nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server on the link port did not prove it knows the token (another token, or not our \
     sidecar); nothing secret was sent"
)]
pub struct Unproven;

/// One connection attempt's side of the challenge.
#[derive(Debug, Clone)]
pub struct Challenge {
    nonce: String,
}

impl Default for Challenge {
    fn default() -> Self {
        Self::new()
    }
}

impl Challenge {
    /// A fresh nonce: never reuse a challenge for another connection.
    pub fn new() -> Self {
        Self {
            nonce: auth::new_nonce(),
        }
    }

    /// The value of [`auth::NONCE_HEADER`] in the upgrade request (lowercase hex, a valid header
    /// value).
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Checks the server's answer (its [`auth::NONCE_HEADER`] and [`auth::PROOF_HEADER`], as
    /// `header` finds them in the `101` response) and returns the text frame carrying the
    /// client's own proof.
    pub fn answer<'a>(
        &self,
        token: &str,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<String, Unproven> {
        let server_nonce = header(auth::NONCE_HEADER)
            .filter(|n| auth::is_valid_nonce(n))
            .ok_or(Unproven)?;
        let proof = header(auth::PROOF_HEADER).ok_or(Unproven)?;
        let expected = auth::server_proof(token, &self.nonce, server_nonce);
        if !auth::verify(&expected, proof) {
            return Err(Unproven);
        }
        let proof = ClientProof {
            proof: auth::client_proof(token, &self.nonce, server_nonce),
        };
        Ok(serde_json::to_string(&proof).expect("a proof always serialises"))
    }
}

/// The client's hello as a text frame: `client` names it in the sidecar's log, `audio_clock`
/// says whether it plays the audio on air (the OBS source) or only follows (live2d-bridge).
pub fn hello(client: &str, audio_clock: bool) -> String {
    let hello = Report::Hello {
        protocol: PROTOCOL_VERSION,
        client: client.into(),
        audio_clock,
    };
    serde_json::to_string(&hello).expect("a report always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's half, as the sidecar computes it.
    fn server_headers(token: &str, client_nonce: &str) -> [(&'static str, String); 2] {
        let server_nonce = auth::new_nonce();
        let proof = auth::server_proof(token, client_nonce, &server_nonce);
        [
            (auth::NONCE_HEADER, server_nonce),
            (auth::PROOF_HEADER, proof),
        ]
    }

    fn lookup<'a>(headers: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    #[test]
    fn a_proven_server_gets_the_client_proof_and_nothing_else() {
        let challenge = Challenge::new();
        assert!(auth::is_valid_nonce(challenge.nonce()));
        let headers = server_headers("tok", challenge.nonce());
        let frame = challenge.answer("tok", lookup(&headers)).unwrap();
        let proof: ClientProof = serde_json::from_str(&frame).unwrap();
        let expected = auth::client_proof("tok", challenge.nonce(), &headers[0].1);
        assert!(auth::verify(&expected, &proof.proof));
    }

    #[test]
    fn a_server_without_the_token_or_without_a_proof_is_refused() {
        let challenge = Challenge::new();
        let wrong = server_headers("other", challenge.nonce());
        assert_eq!(challenge.answer("tok", lookup(&wrong)), Err(Unproven));
        assert_eq!(challenge.answer("tok", |_| None), Err(Unproven));
        let mut bad_nonce = server_headers("tok", challenge.nonce());
        bad_nonce[0].1 = "A".repeat(64);
        assert_eq!(challenge.answer("tok", lookup(&bad_nonce)), Err(Unproven));
        // A proof for another client's nonce is no proof for this one.
        let replayed = server_headers("tok", Challenge::new().nonce());
        assert_eq!(challenge.answer("tok", lookup(&replayed)), Err(Unproven));
    }

    #[test]
    fn hello_says_the_protocol_and_the_role() {
        let hello: Report = serde_json::from_str(&hello("obs-plugin", true)).unwrap();
        assert_eq!(
            hello,
            Report::Hello {
                protocol: PROTOCOL_VERSION,
                client: "obs-plugin".into(),
                audio_clock: true
            }
        );
    }
}

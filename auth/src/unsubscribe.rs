//! One-click unsubscribe links (RFC 8058): a token that lets whoever holds an
//! email turn that user's email notifications off, and nothing else. It is an
//! HMAC-SHA256 of the user id under the JWT secret with its own label, so it
//! can never pass as a bearer token, and a token for one user says nothing
//! about another's. It does not expire: unsubscribe links in old emails must
//! keep working, and all it can do is stop emails.

use crate::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use events::ids::UserId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const LABEL: &[u8] = b"pulse unsubscribe v1\0";

fn mac(secret: &Secret, user: &UserId) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(LABEL);
    mac.update(user.as_str().as_bytes());
    mac
}

/// The token of `user`'s unsubscribe link.
pub fn token(secret: &Secret, user: &UserId) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, user).finalize().into_bytes())
}

/// Whether `presented` is `user`'s token (compared in constant time).
pub fn verify(secret: &Secret, user: &UserId, presented: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else { return false };
    mac(secret, user).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(s.repeat(32))
    }

    #[test]
    fn a_token_opens_its_own_users_link_only_and_only_under_its_secret() {
        let (ana, ben) = (UserId::parse("ana").unwrap(), UserId::parse("ben").unwrap());
        let t = token(&secret("a"), &ana);
        assert!(verify(&secret("a"), &ana, &t));
        assert!(!verify(&secret("a"), &ben, &t));
        assert!(!verify(&secret("b"), &ana, &t));
        assert!(!verify(&secret("a"), &ana, "not base64!"));
        assert!(!verify(&secret("a"), &ana, &t[..t.len() - 2]));
    }
}

//! Bearer tokens: HS256 JWTs as NextAuth's JWT strategy issues them when
//! configured with the shared secret. The user id is `sub`; `name`, `email` and
//! `picture` are the NextAuth claims. Only HS256 is accepted, so `alg: none`
//! and algorithm confusion (an RS256 header, a public key used as secret) fail.
//!
//! Every service that lets users in (the REST API, the chat gateway's socket)
//! checks tokens with these keys. [`unsubscribe`] signs the links in emails.

pub mod unsubscribe;

use events::ids::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// The shortest JWT secret or service API key accepted, in bytes: an HS256
/// key shorter than the hash's 32 bytes is easier to guess offline from one
/// captured token.
pub const MIN_SECRET_BYTES: usize = 32;

/// A secret whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is at least [`MIN_SECRET_BYTES`] long.
    pub fn is_long_enough(&self) -> bool {
        self.0.len() >= MIN_SECRET_BYTES
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How bearer tokens are checked: HS256 with the secret shared with NextAuth.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The HS256 secret.
    pub secret: Secret,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
}

/// The claims Pulse reads (and `pulse token` writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// `moderator` grants moderation rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: u64,
    /// Expiry (seconds since the epoch); required.
    pub exp: u64,
    /// Not before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// `aud`: one audience or several, as RFC 7519 allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "pulse"`.
    One(String),
    /// `"aud": ["pulse", "other"]`.
    Many(Vec<String>),
}

/// Why a token was refused; the text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Signature, algorithm, expiry, issuer or audience check failed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The `sub` claim is not a usable user id.
    #[error("invalid token subject: {0}")]
    Subject(String),
    /// An internal route without the right `X-Api-Key`, or with internal
    /// routes turned off.
    #[error("missing or wrong X-Api-Key")]
    ApiKey,
}

/// A token that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its claims.
    pub claims: Claims,
    /// The user id from `sub`.
    pub user: UserId,
}

/// Verifies (and in dev mode mints) tokens.
///
/// A client presents the same token on every request until it expires, so
/// verified tokens are remembered: a repeat costs one map lookup instead of
/// base64, two JSON parses and an HMAC. Only the expiry can change the answer
/// for a token already verified (signature, issuer, audience and `nbf` are
/// fixed by its bytes and this process's keys), so that is rechecked on every
/// use. Only tokens that passed are remembered; the key is the whole token.
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    verified: RwLock<HashMap<Box<str>, Arc<Verified>>>,
}

/// Most tokens remembered; beyond it the expired ones are dropped, and if
/// that is not enough, all of them.
const MAX_REMEMBERED: usize = 10_000;

impl JwtKeys {
    /// Keys and checks from the configuration.
    pub fn new(config: &JwtConfig) -> Self {
        let secret = config.secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_nbf = true;
        validation.leeway = 30;
        // A configured issuer or audience must be present, not just match when
        // present: jsonwebtoken checks only the claims listed as required.
        let mut required = vec!["exp", "sub"];
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Checks a token and returns its claims and user id.
    pub fn verify(&self, token: &str) -> Result<Arc<Verified>, AuthError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// The answer for a token verified before, without verifying it again;
    /// `None` for a token never seen (or forgotten). Lets a caller charge only
    /// new tokens to a rate limit, so guessing tokens is throttled while a
    /// signed-in client's repeats are not.
    pub fn recall(&self, token: &str) -> Option<Result<Arc<Verified>, AuthError>> {
        self.recall_at(token, jsonwebtoken::get_current_timestamp())
    }

    fn recall_at(&self, token: &str, now: u64) -> Option<Result<Arc<Verified>, AuthError>> {
        let verified = self.verified.read().ok().and_then(|map| map.get(token).cloned())?;
        // jsonwebtoken's own rule: expired once `exp < now - leeway`.
        if verified.claims.exp.saturating_add(self.validation.leeway) < now {
            let expired = jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::ExpiredSignature);
            return Some(Err(AuthError::Invalid(expired.to_string())));
        }
        Some(Ok(verified))
    }

    fn verify_at(&self, token: &str, now: u64) -> Result<Arc<Verified>, AuthError> {
        if let Some(answer) = self.recall_at(token, now) {
            return answer;
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let user = UserId::parse(&data.claims.sub).map_err(|e| AuthError::Subject(e.to_string()))?;
        let verified = Arc::new(Verified { claims: data.claims, user });
        self.remember(token, &verified, now);
        Ok(verified)
    }

    fn remember(&self, token: &str, verified: &Arc<Verified>, now: u64) {
        let Ok(mut map) = self.verified.write() else { return };
        if map.len() >= MAX_REMEMBERED {
            let leeway = self.validation.leeway;
            map.retain(|_, v| v.claims.exp.saturating_add(leeway) >= now);
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
        map.insert(token.into(), verified.clone());
    }

    /// Signs claims with HS256.
    pub fn mint(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

/// Compares a presented API key with the configured one in time that does not
/// depend on where they differ.
pub fn api_key_matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&JwtConfig {
            secret: Secret::new("unit-test-secret-0123456789abcdef"),
            issuer: None,
            audience: None,
        })
    }

    fn token(keys: &JwtKeys, exp: u64) -> String {
        let claims = Claims {
            sub: "ana".to_owned(),
            name: None,
            email: None,
            picture: None,
            role: None,
            iat: 0,
            exp,
            nbf: None,
            iss: None,
            aud: None,
        };
        keys.mint(&claims).unwrap()
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let token = token(&keys, now + 60);
        assert_eq!(keys.verify_at(&token, now).unwrap().user.as_str(), "ana");
        assert!(keys.verify_at(&token, now + 60 + 30).is_ok(), "still inside the leeway");
        let err = keys.verify_at(&token, now + 60 + 31).unwrap_err();
        assert!(matches!(err, AuthError::Invalid(ref text) if text.contains("xpired")), "{err:?}");
    }

    #[test]
    fn a_token_differing_from_a_remembered_one_is_verified_afresh() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let token = token(&keys, now + 60);
        keys.verify(&token).unwrap();
        // A character inside the signature, so the bytes differ (the last one
        // also carries padding bits).
        let at = token.len() - 5;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(matches!(keys.verify(&forged), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn memory_stays_bounded() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        for i in 0..MAX_REMEMBERED + 5 {
            keys.verify(&token(&keys, now + 60 + i as u64)).unwrap();
        }
        assert!(keys.verified.read().unwrap().len() <= MAX_REMEMBERED);
    }
}

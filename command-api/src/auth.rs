//! Bearer tokens: HS256 JWTs as NextAuth's JWT strategy issues them when
//! configured with the shared secret. The user id is `sub`; `name`, `email` and
//! `picture` are the NextAuth claims. Only HS256 is accepted, so `alg: none`
//! and algorithm confusion (an RS256 header, a public key used as secret) fail.

use crate::config::JwtConfig;
use events::ids::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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
    pub aud: Option<String>,
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

/// Verifies (and in dev mode mints) tokens.
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

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
        Self { decoding: DecodingKey::from_secret(secret), encoding: EncodingKey::from_secret(secret), validation }
    }

    /// Checks a token and returns its claims and user id.
    pub fn verify(&self, token: &str) -> Result<(Claims, UserId), AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let user = UserId::parse(&data.claims.sub).map_err(|e| AuthError::Subject(e.to_string()))?;
        Ok((data.claims, user))
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

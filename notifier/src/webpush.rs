//! Web Push's two pieces of cryptography, with no I/O:
//!
//! - payload encryption (RFC 8291, the `aes128gcm` content coding of RFC
//!   8188): an ephemeral P-256 key agreed with the browser's `p256dh`, keyed
//!   by its `auth` secret, one record;
//! - VAPID (RFC 8292): an ES256 JWT naming the push service's origin, signed
//!   with the server's key, sent as `Authorization: vapid t=<jwt>, k=<key>`.
//!
//! `decrypt` and `verify_vapid` are what a push service and a browser do; the
//! tests' push endpoint uses them, and the RFC's own test vector pins
//! `encrypt` down, so a round trip proves the format, not just symmetry.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdh::diffie_hellman;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size announced in the header: one record holds any payload
/// Pulse sends (a push service accepts at least 4096 bytes of body).
const RECORD_SIZE: u32 = 4096;
/// The most payload bytes: a record of 4096 less the header, tag and delimiter.
pub const MAX_PAYLOAD: usize = 3993;

/// Why Web Push cryptography failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushCryptoError {
    /// A key that is not a P-256 point or scalar, or not base64url.
    #[error("invalid key: {0}")]
    Key(&'static str),
    /// The payload is larger than one record.
    #[error("the payload is larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    /// The body is not one `aes128gcm` record this key can open.
    #[error("the body cannot be decrypted: {0}")]
    Body(&'static str),
    /// The `Authorization` header is not a valid VAPID token for this audience.
    #[error("invalid VAPID authorization: {0}")]
    Vapid(&'static str),
}

type Result<T> = std::result::Result<T, PushCryptoError>;

/// A base64url value, with or without padding.
pub fn b64(raw: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).map_err(|_| PushCryptoError::Key("not base64url"))
}

/// The uncompressed SEC1 form (65 bytes) of a public key.
pub fn public_bytes(key: &PublicKey) -> Vec<u8> {
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// The content-encryption key and nonce both sides derive (RFC 8291 §3.4).
fn derive(shared: &[u8], auth: &[u8], ua_public: &[u8], as_public: &[u8], salt: &[u8]) -> Result<([u8; 16], [u8; 12])> {
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0_u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared).expand(&key_info, &mut ikm).map_err(|_| PushCryptoError::Key("hkdf"))?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0_u8; 16], [0_u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| PushCryptoError::Key("hkdf"))?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| PushCryptoError::Key("hkdf"))?;
    Ok((cek, nonce))
}

/// Encrypts `payload` for the browser whose subscription keys are
/// `ua_public` (`p256dh`, 65 bytes) and `auth` (16 bytes), with the sender's
/// ephemeral key `as_secret` and a random `salt`: the whole request body.
pub fn encrypt(
    payload: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    as_secret: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PushCryptoError::TooLarge);
    }
    let ua_key =
        PublicKey::from_sec1_bytes(ua_public).map_err(|_| PushCryptoError::Key("p256dh is not a P-256 point"))?;
    let as_public = public_bytes(&as_secret.public_key());
    let shared = diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());
    let (cek, nonce) = derive(shared.raw_secret_bytes(), auth, ua_public, &as_public, &salt)?;
    // One record, the last: the payload and the delimiter 0x02, no padding.
    let mut record = payload.to_vec();
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushCryptoError::Key("cek"))?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: &record, aad: &[] })
        .map_err(|_| PushCryptoError::Body("seal"))?;
    let mut body = Vec::with_capacity(86 + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// What the browser does: opens a body `encrypt` made, with its private key
/// and `auth`; the payload.
pub fn decrypt(body: &[u8], ua_secret: &SecretKey, auth: &[u8]) -> Result<Vec<u8>> {
    let header = body.get(..86).ok_or(PushCryptoError::Body("shorter than its header"))?;
    let (salt, key_length, as_public) = (&header[..16], header[20], &header[21..86]);
    if key_length != 65 {
        return Err(PushCryptoError::Body("the key id is not a P-256 point"));
    }
    let as_key =
        PublicKey::from_sec1_bytes(as_public).map_err(|_| PushCryptoError::Body("the key id is not a point"))?;
    let ua_public = public_bytes(&ua_secret.public_key());
    let shared = diffie_hellman(ua_secret.to_nonzero_scalar(), as_key.as_affine());
    let (cek, nonce) = derive(shared.raw_secret_bytes(), auth, &ua_public, as_public, salt)?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushCryptoError::Key("cek"))?;
    let mut record = cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: &body[86..], aad: &[] })
        .map_err(|_| PushCryptoError::Body("authentication failed"))?;
    // Strip the padding, then the last-record delimiter.
    while record.last() == Some(&0) {
        record.pop();
    }
    match record.pop() {
        Some(2) => Ok(record),
        _ => Err(PushCryptoError::Body("no last-record delimiter")),
    }
}

/// The server's VAPID key pair, from `PULSE_VAPID_PRIVATE_KEY` (the raw
/// 32-byte P-256 scalar, base64url, as `web-push generate-vapid-keys` prints).
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    /// The public key, base64url of its uncompressed form: the browser's
    /// `applicationServerKey`, and `k=` of every request.
    pub public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey").field("public", &self.public).finish_non_exhaustive()
    }
}

impl VapidKey {
    /// Parses the private key.
    pub fn parse(private: &str) -> Result<Self> {
        let secret =
            SecretKey::from_slice(&b64(private)?).map_err(|_| PushCryptoError::Key("not a P-256 private key"))?;
        let public = URL_SAFE_NO_PAD.encode(public_bytes(&secret.public_key()));
        Ok(Self { signing: SigningKey::from(secret), public })
    }

    /// The `Authorization` header for a push service at `audience` (the
    /// endpoint's origin), valid until `expires` (unix seconds; at most 24
    /// hours ahead), naming `subject` (a `mailto:` or `https:` contact).
    pub fn authorization(&self, audience: &str, expires: u64, subject: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": expires, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signed.as_bytes());
        format!("vapid t={signed}.{}, k={}", URL_SAFE_NO_PAD.encode(signature.to_bytes()), self.public)
    }
}

/// What a push service does with an `Authorization` header: checks the ES256
/// signature against `k`, the audience, and that it has not expired at `now`;
/// the public key (`k`) and the subject.
pub fn verify_vapid(authorization: &str, audience: &str, now: u64) -> Result<(String, String)> {
    let rest = authorization.strip_prefix("vapid ").ok_or(PushCryptoError::Vapid("not the vapid scheme"))?;
    let (mut token, mut key) = (None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = token.zip(key).ok_or(PushCryptoError::Vapid("t= or k= missing"))?;
    let verifying = VerifyingKey::from_sec1_bytes(&b64(key)?).map_err(|_| PushCryptoError::Vapid("k is not a key"))?;
    let (signed, signature) = token.rsplit_once('.').ok_or(PushCryptoError::Vapid("not a JWT"))?;
    let signature = Signature::from_slice(&b64(signature)?).map_err(|_| PushCryptoError::Vapid("bad signature"))?;
    verifying.verify(signed.as_bytes(), &signature).map_err(|_| PushCryptoError::Vapid("signature does not verify"))?;
    let (header, claims) = signed.split_once('.').ok_or(PushCryptoError::Vapid("not a JWT"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&b64(header)?).map_err(|_| PushCryptoError::Vapid("header is not JSON"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64(claims)?).map_err(|_| PushCryptoError::Vapid("claims are not JSON"))?;
    if header["alg"] != "ES256" {
        return Err(PushCryptoError::Vapid("alg is not ES256"));
    }
    if claims["aud"] != audience {
        return Err(PushCryptoError::Vapid("wrong audience"));
    }
    let exp = claims["exp"].as_u64().ok_or(PushCryptoError::Vapid("no exp"))?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(PushCryptoError::Vapid("expired, or more than 24 hours ahead"));
    }
    let subject = claims["sub"].as_str().ok_or(PushCryptoError::Vapid("no sub"))?.to_owned();
    Ok((key.to_owned(), subject))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret(raw: &str) -> SecretKey {
        SecretKey::from_slice(&b64(raw).unwrap()).unwrap()
    }

    #[test]
    fn a_vapid_header_verifies_for_its_audience_only_and_until_it_expires() {
        let key = VapidKey::parse("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY").unwrap();
        let header = key.authorization("https://push.example.net", 1_000 + 3600, "mailto:ops@example.org");
        let (k, sub) = verify_vapid(&header, "https://push.example.net", 1_000).unwrap();
        assert_eq!((k, sub.as_str()), (key.public.clone(), "mailto:ops@example.org"));
        assert!(verify_vapid(&header, "https://other.example.net", 1_000).is_err());
        assert!(verify_vapid(&header, "https://push.example.net", 1_000 + 3600).is_err());
        // Signed by another key, presented as this one's.
        let other = VapidKey::parse("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94").unwrap();
        let forged = other
            .authorization("https://push.example.net", 1_000 + 3600, "mailto:ops@example.org")
            .replace(&other.public, &key.public);
        assert!(verify_vapid(&forged, "https://push.example.net", 1_000).is_err());
    }

    /// RFC 8291, Appendix A: the sender's key and salt fixed, the body is
    /// the RFC's, byte for byte.
    #[test]
    fn encryption_matches_the_rfc_8291_example_byte_for_byte() {
        let as_secret = secret("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let ua_secret = secret("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94");
        let ua_public =
            b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4").unwrap();
        assert_eq!(public_bytes(&ua_secret.public_key()), ua_public);
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").unwrap().try_into().unwrap();
        let plaintext = b"When I grow up, I want to be a watermelon";
        let expected = b64(concat!(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_y",
            "l95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        ))
        .unwrap();

        let body = encrypt(plaintext, &ua_public, &auth, &as_secret, salt).unwrap();

        assert_eq!(body, expected);
        assert_eq!(decrypt(&expected, &ua_secret, &auth).unwrap(), plaintext);
    }

    #[test]
    fn what_is_encrypted_for_a_browser_only_its_key_and_auth_open() {
        let browser = secret("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94");
        let other = secret("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        let ua_public = public_bytes(&browser.public_key());
        let body = encrypt(b"hello", &ua_public, &auth, &other, [7; 16]).unwrap();
        assert_eq!(decrypt(&body, &browser, &auth).unwrap(), b"hello");
        assert!(decrypt(&body, &other, &auth).is_err());
        assert!(decrypt(&body, &browser, &[0; 16]).is_err());
        assert!(decrypt(&body[..40], &browser, &auth).is_err());
        assert_eq!(encrypt(&[0; MAX_PAYLOAD + 1], &ua_public, &auth, &other, [7; 16]), Err(PushCryptoError::TooLarge));
    }
}

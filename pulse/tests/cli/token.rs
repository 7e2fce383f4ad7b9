//! `pulse token`.

use crate::{pulse, stderr, stdout};
use auth::JwtKeys;
use auth::{JwtConfig, Secret};

#[test]
fn a_dev_token_carries_the_given_claims_and_verifies_with_the_secret() {
    let secret = "cli-test-secret-0123456789abcdef";
    let output = pulse(
        &["token", "ana", "--email", "ana@example.org", "--name", "Ana", "--moderator"],
        &[("PULSE_DEV", "1"), ("PULSE_JWT_SECRET", secret)],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(secret), issuer: None, audience: None });
    let verified = keys.verify(stdout(&output).trim()).unwrap();
    let claims = &verified.claims;
    assert_eq!(verified.user.as_str(), "ana");
    assert_eq!(claims.email.as_deref(), Some("ana@example.org"));
    assert_eq!(claims.name.as_deref(), Some("Ana"));
    assert_eq!(claims.role.as_deref(), Some("moderator"));
}

#[test]
fn tokens_are_refused_outside_dev_mode() {
    let output = pulse(&["token", "ana"], &[("PULSE_JWT_SECRET", "whatever-secret-0123456789abcdef")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("dev mode"), "{}", stderr(&output));
}

#[test]
fn dev_mode_without_a_secret_generates_one_and_keeps_it() {
    let dir = std::env::temp_dir().join(format!("pulse-dev-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.to_str().unwrap();
    let env = [("PULSE_DEV", "1"), ("PULSE_DATA_DIR", data_dir)];
    let first = pulse(&["token", "ana", "--ttl-hours", "1"], &env);
    assert!(first.status.success(), "{}", stderr(&first));
    let secret = std::fs::read_to_string(dir.join("dev-jwt-secret")).unwrap();
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(secret.trim()), issuer: None, audience: None });
    assert!(keys.verify(stdout(&first).trim()).is_ok(), "the token is signed with the kept secret");
    let second = pulse(&["token", "ben"], &env);
    assert!(keys.verify(stdout(&second).trim()).is_ok(), "a second run reuses it");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_dev_secret_file_is_replaced_by_a_generated_secret() {
    let dir = std::env::temp_dir().join(format!("pulse-dev-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dev-jwt-secret"), "\n").unwrap();
    let env = [("PULSE_DEV", "1"), ("PULSE_DATA_DIR", dir.to_str().unwrap())];
    let minted = pulse(&["token", "ana"], &env);
    assert!(minted.status.success(), "{}", stderr(&minted));
    let secret = std::fs::read_to_string(dir.join("dev-jwt-secret")).unwrap();
    assert!(secret.trim().len() >= 32, "{secret:?}");
    let keys = JwtKeys::new(&JwtConfig { secret: Secret::new(secret.trim()), issuer: None, audience: None });
    assert!(keys.verify(stdout(&minted).trim()).is_ok(), "signed with the new secret");
    let empty_key = JwtKeys::new(&JwtConfig { secret: Secret::new(""), issuer: None, audience: None });
    assert!(empty_key.verify(stdout(&minted).trim()).is_err(), "not with an empty one");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_short_dev_secret_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("pulse-dev-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dev-jwt-secret"), "too-short").unwrap();
    let output = pulse(&["token", "ana"], &[("PULSE_DEV", "1"), ("PULSE_DATA_DIR", dir.to_str().unwrap())]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("fewer than 32; delete it"), "{}", stderr(&output));
    std::fs::remove_dir_all(dir).unwrap();
}

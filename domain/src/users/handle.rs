//! A handle's claim: the first user to claim it owns it. The event store
//! enforces this (expected sequence 0 on `users.handle.<handle>`); `decide`
//! says what a claim means against a known claim.

use events::catalog::UserEvent;
use events::catalog::users::HandleClaimed;
use events::ids::{Handle, UserId};

/// Who holds a handle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HandleClaim {
    /// Nobody.
    #[default]
    Free,
    /// This user.
    Taken(UserId),
}

/// Why a claim is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleRejection {
    /// Someone else holds it.
    #[error("This handle is taken.")]
    HandleTaken,
}

/// Claims `handle` for `user`; claiming your own handle again changes nothing.
pub fn decide(claim: &HandleClaim, handle: Handle, user: UserId) -> Result<Vec<UserEvent>, HandleRejection> {
    match claim {
        HandleClaim::Free => Ok(vec![HandleClaimed { handle, user }.into()]),
        HandleClaim::Taken(owner) if *owner == user => Ok(vec![]),
        HandleClaim::Taken(_) => Err(HandleRejection::HandleTaken),
    }
}

/// Folds one event into the claim.
pub fn evolve(claim: HandleClaim, event: &UserEvent) -> HandleClaim {
    match event {
        UserEvent::HandleClaimed(e) => HandleClaim::Taken(e.user.clone()),
        _ => claim,
    }
}

/// Handles to try, in order, for a new user: one made from `name` (a display
/// name or an email's local part), then the same with parts of the user id,
/// then numbered. Deterministic, so a retried registration tries the same ones.
pub fn handle_candidates(name: &str, user: &UserId) -> Vec<Handle> {
    let base = slug(name).or_else(|| slug(user.as_str())).unwrap_or_else(|| "user".to_owned());
    let base: String = base.chars().take(20).collect();
    let id: String =
        user.as_str().chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    let mut raw = vec![base.clone()];
    for length in [4, 8] {
        if id.len() >= length {
            raw.push(format!("{base}_{}", &id[id.len() - length..]));
        }
    }
    raw.extend((2..=20).map(|n| format!("{base}{n}")));
    let mut candidates: Vec<Handle> = Vec::new();
    for handle in raw.iter().filter_map(|r| Handle::parse(r).ok()) {
        if !candidates.contains(&handle) {
            candidates.push(handle);
        }
    }
    candidates
}

/// Lowercase a-z, 0-9 and single `_`; at least 3 characters, or `None`.
fn slug(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        let c = fold_latin(c.to_ascii_lowercase());
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    (out.len() >= 3).then_some(out)
}

/// Common accented Latin letters to their base letter, so "José" gives "jose".
fn fold_latin(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn handle(raw: &str) -> Handle {
        Handle::parse(raw).unwrap()
    }

    #[test]
    fn a_free_handle_is_claimed_once_and_reclaiming_your_own_changes_nothing() {
        let claimed = decide(&HandleClaim::Free, handle("ana"), user("u1")).unwrap();
        let state = claimed.iter().fold(HandleClaim::Free, evolve);
        assert_eq!(state, HandleClaim::Taken(user("u1")));
        assert_eq!(decide(&state, handle("ana"), user("u1")), Ok(vec![]));
        assert_eq!(decide(&state, handle("ana"), user("u2")), Err(HandleRejection::HandleTaken));
    }

    #[track_caller]
    fn check(name: &str, id: &str, first: &[&str]) {
        let candidates: Vec<String> = handle_candidates(name, &user(id)).iter().map(ToString::to_string).collect();
        assert_eq!(&candidates[..first.len()], first, "candidates for {name:?}");
        assert!(candidates.len() >= 20);
    }

    #[test]
    fn handles_are_made_from_names_then_ids_then_numbers() {
        check("Ana Lúcia", "108234567890", &["ana_lucia", "ana_lucia_7890", "ana_lucia_34567890", "ana_lucia2"]);
        check("José", "u-1", &["jose", "jose2"]);
        check("!!", "google_42", &["google_42", "google_42_le42", "google_42_google42", "google_422"]);
        check("Émile Zola-Durand, PhD candidate", "x", &["emile_zola_durand_ph", "emile_zola_durand_ph2"]);
    }
}

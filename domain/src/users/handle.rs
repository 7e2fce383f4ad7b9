//! A handle's claim: the first user to claim it owns it. The event store
//! enforces this (expected sequence 0 on `users.handle.<handle>`); `decide`
//! says what a claim means against a known claim.

use events::catalog::UserEvent;
use events::catalog::users::HandleClaimed;
use events::ids::{Handle, UserId};
use time::{Duration, OffsetDateTime};

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

/// How long a claim by someone who has not registered is kept for them. A
/// registration claims its handle and then registers within one request
/// (bounded by the request timeout, seconds), so a claim this old whose
/// holder is still unregistered was abandoned by a request that failed in
/// between, and the handle is free again.
pub const ABANDONED_AFTER: Duration = Duration::minutes(10);

/// A user claims a handle as they register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleCommand {
    /// The handle wanted.
    pub handle: Handle,
    /// Who wants it.
    pub user: UserId,
    /// The current holder's account, looked up by the caller when the handle
    /// is taken: a claim is only as good as the registration it serves.
    pub holder: Option<Holder>,
    /// When the command is decided.
    pub now: OffsetDateTime,
}

/// What the holder of a claimed handle did with it: an outside fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Who holds the claim.
    pub user: UserId,
    /// The handle their registration carries; `None` while unregistered.
    pub registered_as: Option<Handle>,
    /// When the claim was appended.
    pub claimed_at: OffsetDateTime,
}

/// Claims `handle` for `user`; claiming your own handle again changes nothing.
/// A claim held by someone else passes on when it can no longer become their
/// handle: they registered under another one (parallel registrations with
/// different handles keep only the winner's), or they never registered and
/// the claim is older than [`ABANDONED_AFTER`].
pub fn decide(claim: &HandleClaim, command: HandleCommand) -> Result<Vec<UserEvent>, HandleRejection> {
    let HandleCommand { handle, user, holder, now } = command;
    match claim {
        HandleClaim::Free => Ok(vec![HandleClaimed { handle, user }.into()]),
        HandleClaim::Taken(owner) if *owner == user => Ok(vec![]),
        // The fact must be about the claim decided on: after a lost race the
        // handle may have a new holder that nobody has looked up.
        HandleClaim::Taken(owner) => match holder {
            Some(h) if h.user == *owner && released(&h, &handle, now) => {
                Ok(vec![HandleClaimed { handle, user }.into()])
            }
            _ => Err(HandleRejection::HandleTaken),
        },
    }
}

fn released(holder: &Holder, handle: &Handle, now: OffsetDateTime) -> bool {
    match &holder.registered_as {
        Some(theirs) => theirs != handle,
        None => now - holder.claimed_at > ABANDONED_AFTER,
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

crate::decider::decider!(HandleClaim, HandleCommand, UserEvent, HandleRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decider::given::given;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn handle(raw: &str) -> Handle {
        Handle::parse(raw).unwrap()
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-11-25 12:00 UTC);

    fn claim(raw: &str, by: &str, holder: Option<Holder>) -> HandleCommand {
        HandleCommand { handle: handle(raw), user: user(by), holder, now: NOW }
    }

    fn claimed(raw: &str, by: &str) -> HandleClaimed {
        HandleClaimed { handle: handle(raw), user: user(by) }
    }

    fn holder(id: &str, registered_as: Option<&str>, minutes_ago: i64) -> Option<Holder> {
        let claimed_at = NOW - Duration::minutes(minutes_ago);
        Some(Holder { user: user(id), registered_as: registered_as.map(handle), claimed_at })
    }

    #[test]
    fn a_free_handle_is_claimed_once_and_reclaiming_your_own_changes_nothing() {
        given::<HandleClaim>([] as [UserEvent; 0]).when(claim("ana", "u1", None)).then(claimed("ana", "u1"));
        given::<HandleClaim>([claimed("ana", "u1")]).when(claim("ana", "u1", None)).then_nothing();
        let registered = holder("u1", Some("ana"), 60);
        given::<HandleClaim>([claimed("ana", "u1")])
            .when(claim("ana", "u2", registered))
            .then_rejects(HandleRejection::HandleTaken);
    }

    #[test]
    fn a_claim_its_holder_registered_past_is_free_at_once() {
        given::<HandleClaim>([claimed("ana", "u1")])
            .when(claim("ana", "u2", holder("u1", Some("ana_2"), 0)))
            .then(claimed("ana", "u2"));
    }

    #[test]
    fn an_unregistered_holder_keeps_a_claim_until_it_is_abandoned() {
        let fresh = holder("u1", None, ABANDONED_AFTER.whole_minutes() - 1);
        given::<HandleClaim>([claimed("ana", "u1")])
            .when(claim("ana", "u2", fresh))
            .then_rejects(HandleRejection::HandleTaken);
        let abandoned = holder("u1", None, ABANDONED_AFTER.whole_minutes() + 1);
        given::<HandleClaim>([claimed("ana", "u1")]).when(claim("ana", "u2", abandoned)).then(claimed("ana", "u2"));
    }

    #[test]
    fn a_fact_about_an_earlier_holder_frees_nothing() {
        let about_u1 = holder("u1", Some("other"), 0);
        given::<HandleClaim>([claimed("ana", "u1"), claimed("ana", "u3")])
            .when(claim("ana", "u2", about_u1))
            .then_rejects(HandleRejection::HandleTaken);
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

//! Idempotency keys: the same key appended twice within the stream's
//! duplicate window yields one event (`Nats-Msg-Id`), and the key stays on the
//! event so a later retry can be recognised from the log.
//!
//! One length limit holds for every key, however it was made: a client's key
//! is checked when parsed, and a key derived from it (scoped to one aggregate,
//! or to one event of a multi-event command) that would pass the limit is
//! replaced by a digest of the same length every time, so it stays unique and
//! bounded.
//!
//! A key the server made for a request ([`IdempotencyKey::made_fresh`]) is
//! kept on the event without asking JetStream to deduplicate it: no earlier
//! attempt can have used it, and its append expects a version, which turns a
//! late copy of the same publish into a refused one. JetStream's duplicate
//! window keeps every id it was asked about in memory, which cost the command
//! path about a tenth of its throughput.

use crate::subject::Aggregate;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// A caller's idempotency key, already scoped by the caller (for example to
/// one user): 1 to [`MAX_KEY_LEN`] printable ASCII characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String, Fresh);

/// Whether a key was made by the server for the request that uses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Fresh(bool);

impl IdempotencyKey {
    /// Checks a raw key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let printable = raw.bytes().all(|b| (b'!'..=b'~').contains(&b));
        if raw.is_empty() || raw.len() > MAX_KEY_LEN || !printable {
            return Err(format!("must be 1 to {MAX_KEY_LEN} printable ASCII characters without spaces"));
        }
        Ok(Self(raw.to_owned(), Fresh(false)))
    }

    /// The key as made by the server for this very request: appended under
    /// it, an event carries it without JetStream deduplicating it.
    #[must_use]
    pub fn made_fresh(self) -> Self {
        Self(self.0, Fresh(true))
    }

    /// Whether the server made it for this very request.
    pub fn is_fresh(&self) -> bool {
        self.1.0
    }

    /// The key of the n-th event of a multi-event command.
    pub fn part(&self, name: &str) -> Self {
        Self::derived(format!("{}/{name}", self.0), self.1)
    }

    /// The key as used on one aggregate: one client key may drive appends to
    /// several aggregates (registration claims a handle, then registers), and
    /// each must deduplicate on its own.
    pub fn on(&self, aggregate: &Aggregate) -> Self {
        Self::derived(format!("{}@{aggregate}", self.0), self.1)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A derived key within the limit: as it is when short enough, else a
    /// UUID v5 of it (the same text always gives the same digest).
    fn derived(key: String, fresh: Fresh) -> Self {
        if key.len() <= MAX_KEY_LEN {
            return Self(key, fresh);
        }
        Self(format!("~{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).simple()), fresh)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ids::{ConversationId, MessageId};

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        assert!(IdempotencyKey::parse("a1b2-c3").is_ok());
        for bad in ["", "has space", "ünï", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_derived_key_stays_within_the_limit_and_distinct() {
        let longest = IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).unwrap();
        let message = Aggregate::message(ConversationId::new(), MessageId::new());
        let on = longest.on(&message);
        let part = on.part("1");
        for key in [&on, &part] {
            assert!(key.as_str().len() <= MAX_KEY_LEN, "{} bytes", key.as_str().len());
            assert!(IdempotencyKey::parse(key.as_str()).is_ok(), "a derived key is a valid key");
        }
        assert_ne!(on, part);
        assert_eq!(on, longest.on(&message), "the same derivation gives the same key");
        assert_ne!(on, longest.on(&Aggregate::message(ConversationId::new(), MessageId::new())));
        let short = IdempotencyKey::parse("user:k-1").unwrap();
        assert_eq!(short.on(&message).as_str(), format!("user:k-1@{message}"), "short keys read as they are");
    }
}

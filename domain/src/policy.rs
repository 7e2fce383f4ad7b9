//! Policies: what Pulse does by itself when something happens. Each turns
//! one recorded event into commands, which then go through the same `decide`
//! as a user's, so a policy never writes what the rules would refuse, and a
//! command that finds nothing to do appends nothing (running one twice is
//! harmless).

use events::catalog::{DomainEvent, UserEvent};
use events::ids::UserId;

/// A command a policy asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// `follower` stops following `followee`.
    EndFollow {
        /// Who follows.
        follower: UserId,
        /// Who is followed.
        followee: UserId,
    },
}

/// What the policies ask for after `event`. A block ends the follows between
/// the two users, both ways: a blocked user no longer sees the blocker's
/// posts in their feed, and the blocker no longer sees theirs.
pub fn reactions(event: &DomainEvent) -> Vec<Reaction> {
    match event {
        DomainEvent::Users(UserEvent::UserBlocked(block)) => vec![
            Reaction::EndFollow { follower: block.blocked.clone(), followee: block.blocker.clone() },
            Reaction::EndFollow { follower: block.blocker.clone(), followee: block.blocked.clone() },
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use events::catalog::users::{Followed, UserBlocked, UserUnblocked};

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn a_block_ends_the_follows_both_ways() {
        let blocked = UserBlocked { blocker: user("ana"), blocked: user("ben") };
        assert_eq!(
            reactions(&blocked.into()),
            vec![
                Reaction::EndFollow { follower: user("ben"), followee: user("ana") },
                Reaction::EndFollow { follower: user("ana"), followee: user("ben") },
            ]
        );
    }

    #[test]
    fn other_events_ask_for_nothing() {
        let unblocked = UserUnblocked { blocker: user("ana"), blocked: user("ben") };
        assert_eq!(reactions(&unblocked.into()), vec![]);
        assert_eq!(reactions(&Followed { follower: user("ana"), followee: user("ben") }.into()), vec![]);
    }
}

//! Whether one user follows another: an aggregate per ordered pair.

use events::catalog::UserEvent;
use events::catalog::users::{Followed, Unfollowed};
use events::ids::UserId;

/// The follow between two users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Follow {
    /// Not following.
    #[default]
    NotFollowing,
    /// Following.
    Following,
}

/// Follow or stop following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowCommand {
    /// Start following.
    Follow {
        /// The caller.
        follower: UserId,
        /// Who to follow.
        followee: UserId,
        /// Whether the followee is registered (an outside fact).
        followee_exists: bool,
        /// Whether the followee blocks the follower (an outside fact).
        blocked_by_followee: bool,
    },
    /// Stop following.
    Unfollow {
        /// The caller.
        follower: UserId,
        /// Who to stop following.
        followee: UserId,
    },
}

/// Why a follow is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowRejection {
    /// Following yourself.
    #[error("You cannot follow yourself.")]
    CannotFollowSelf,
    /// Nobody by that id.
    #[error("There is no such user.")]
    NoSuchUser,
    /// The followee blocks the caller.
    #[error("This user has blocked you.")]
    Blocked,
}

/// Decides a follow command; following twice or unfollowing a stranger
/// changes nothing.
pub fn decide(follow: &Follow, command: FollowCommand) -> Result<Vec<UserEvent>, FollowRejection> {
    match (follow, command) {
        (_, FollowCommand::Follow { follower, followee, .. }) if follower == followee => {
            Err(FollowRejection::CannotFollowSelf)
        }
        (Follow::Following, FollowCommand::Follow { .. }) | (Follow::NotFollowing, FollowCommand::Unfollow { .. }) => {
            Ok(vec![])
        }
        (Follow::NotFollowing, FollowCommand::Follow { followee_exists: false, .. }) => {
            Err(FollowRejection::NoSuchUser)
        }
        (Follow::NotFollowing, FollowCommand::Follow { blocked_by_followee: true, .. }) => {
            Err(FollowRejection::Blocked)
        }
        (Follow::NotFollowing, FollowCommand::Follow { follower, followee, .. }) => {
            Ok(vec![Followed { follower, followee }.into()])
        }
        (Follow::Following, FollowCommand::Unfollow { follower, followee }) => {
            Ok(vec![Unfollowed { follower, followee }.into()])
        }
    }
}

/// Folds one event into the follow.
pub fn evolve(follow: Follow, event: &UserEvent) -> Follow {
    match event {
        UserEvent::Followed(_) => Follow::Following,
        UserEvent::Unfollowed(_) => Follow::NotFollowing,
        _ => follow,
    }
}

crate::decider::decider!(Follow, FollowCommand, UserEvent, FollowRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn follow(blocked: bool) -> FollowCommand {
        FollowCommand::Follow {
            follower: user("ana"),
            followee: user("ben"),
            followee_exists: true,
            blocked_by_followee: blocked,
        }
    }

    fn unfollow() -> FollowCommand {
        FollowCommand::Unfollow { follower: user("ana"), followee: user("ben") }
    }

    #[test]
    fn following_twice_appends_nothing_and_unfollowing_a_stranger_neither() {
        let followed = decide(&Follow::NotFollowing, follow(false)).unwrap();
        assert_eq!(followed, vec![Followed { follower: user("ana"), followee: user("ben") }.into()]);
        let state = followed.iter().fold(Follow::NotFollowing, evolve);
        assert_eq!(decide(&state, follow(false)), Ok(vec![]));
        assert_eq!(decide(&Follow::NotFollowing, unfollow()), Ok(vec![]));
        assert_eq!(decide(&state, unfollow()).unwrap().len(), 1);
    }

    #[test]
    fn a_blocked_user_cannot_follow_nor_anyone_themselves_or_a_stranger() {
        assert_eq!(decide(&Follow::NotFollowing, follow(true)), Err(FollowRejection::Blocked));
        let own = FollowCommand::Follow {
            follower: user("ana"),
            followee: user("ana"),
            followee_exists: true,
            blocked_by_followee: false,
        };
        assert_eq!(decide(&Follow::NotFollowing, own), Err(FollowRejection::CannotFollowSelf));
        let ghost = FollowCommand::Follow {
            follower: user("ana"),
            followee: user("zed"),
            followee_exists: false,
            blocked_by_followee: false,
        };
        assert_eq!(decide(&Follow::NotFollowing, ghost), Err(FollowRejection::NoSuchUser));
    }
}

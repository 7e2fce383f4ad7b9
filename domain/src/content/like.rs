//! One user's like of one post. Subject `content.like.<post>.<user>`: the
//! subject's expected sequence makes a like unique per user and post, so the
//! state is only whether it is given.

use events::catalog::ContentEvent;
use events::catalog::content::{PostLiked, PostUnliked};
use events::ids::{PostId, UserId};

/// Whether one user likes one post.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Like {
    /// Never liked, or the like was taken back.
    #[default]
    NotLiked,
    /// Liked.
    Liked,
}

/// What a user asks about their like of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikeCommand {
    /// Like the post. Liking one's own post is allowed.
    Like {
        /// The post.
        post: PostId,
        /// The caller.
        user: UserId,
        /// The post's author, carried by the event for consumers.
        author: UserId,
        /// Whether the post exists and is not deleted (looked up by the caller).
        post_live: bool,
        /// Whether the post's author blocks the caller (looked up by the caller).
        blocked_by_author: bool,
    },
    /// Take the like back; allowed even once the post is gone.
    Unlike {
        /// The post.
        post: PostId,
        /// The caller.
        user: UserId,
        /// The post's author.
        author: UserId,
    },
}

/// Why a like is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LikeRejection {
    /// The post does not exist or was deleted.
    #[error("This post does not exist.")]
    NoSuchPost,
    /// The post's author blocks the caller.
    #[error("You cannot like this post.")]
    Blocked,
}

/// Decides a like or unlike: at most one event, none when the like is already
/// as asked (liking twice, unliking what is not liked).
pub fn decide(like: &Like, command: LikeCommand) -> Result<Vec<ContentEvent>, LikeRejection> {
    match (like, command) {
        (Like::Liked, LikeCommand::Like { .. }) | (Like::NotLiked, LikeCommand::Unlike { .. }) => Ok(vec![]),
        (Like::NotLiked, LikeCommand::Like { post_live: false, .. }) => Err(LikeRejection::NoSuchPost),
        (Like::NotLiked, LikeCommand::Like { blocked_by_author: true, .. }) => Err(LikeRejection::Blocked),
        (Like::NotLiked, LikeCommand::Like { post, user, author, .. }) => {
            Ok(vec![PostLiked { post, user, author }.into()])
        }
        (Like::Liked, LikeCommand::Unlike { post, user, author }) => {
            Ok(vec![PostUnliked { post, user, author }.into()])
        }
    }
}

/// Folds one event of the like's subject into its state.
pub fn evolve(like: Like, event: &ContentEvent) -> Like {
    match event {
        ContentEvent::PostLiked(_) => Like::Liked,
        ContentEvent::PostUnliked(_) => Like::NotLiked,
        _ => like,
    }
}

crate::decider::decider!(Like, LikeCommand, ContentEvent, LikeRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decider::given::Given;

    const POST: PostId = PostId(uuid::Uuid::from_u128(1));

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    /// A like of Ana's post.
    fn like_when(by: &str, post_live: bool, blocked_by_author: bool) -> LikeCommand {
        LikeCommand::Like { post: POST, user: user(by), author: user("ana"), post_live, blocked_by_author }
    }

    /// A like of Ana's live post, by someone she does not block.
    fn like(by: &str) -> LikeCommand {
        like_when(by, true, false)
    }

    fn unlike() -> LikeCommand {
        LikeCommand::Unlike { post: POST, user: user("ben"), author: user("ana") }
    }

    fn liked() -> ContentEvent {
        PostLiked { post: POST, user: user("ben"), author: user("ana") }.into()
    }

    fn unliked() -> ContentEvent {
        PostUnliked { post: POST, user: user("ben"), author: user("ana") }.into()
    }

    fn given(history: impl IntoIterator<Item = ContentEvent>) -> Given<Like> {
        crate::decider::given::given(history)
    }

    #[test]
    fn a_user_likes_a_post_and_the_author_is_credited() {
        given([]).when(like("ben")).then(liked());
    }

    #[test]
    fn liking_twice_is_one_like() {
        given([liked()]).when(like("ben")).then_nothing();
    }

    #[test]
    fn a_like_can_be_taken_back_and_given_again() {
        given([liked()]).when(unlike()).then(unliked());
        given([liked(), unliked()]).when(like("ben")).then(liked());
    }

    #[test]
    fn unliking_what_is_not_liked_changes_nothing() {
        given([]).when(unlike()).then_nothing();
        given([liked(), unliked()]).when(unlike()).then_nothing();
    }

    #[test]
    fn authors_may_like_their_own_posts() {
        given([]).when(like("ana")).then(PostLiked { post: POST, user: user("ana"), author: user("ana") });
    }

    #[test]
    fn a_post_that_is_not_live_cannot_be_liked() {
        given([]).when(like_when("ben", false, false)).then_rejects(LikeRejection::NoSuchPost);
    }

    #[test]
    fn a_blocked_user_cannot_like() {
        given([]).when(like_when("ben", true, true)).then_rejects(LikeRejection::Blocked);
    }
}

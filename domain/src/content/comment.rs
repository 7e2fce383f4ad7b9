//! A comment on a post: who may add, delete, report, hide and restore it.
//! Subject `content.comment.<comment>`. Whether the post is live and whether
//! its author blocks the commenter are outside facts carried by the command;
//! the text was checked by [`text::compose_comment`](super::text::compose_comment).

use super::moderation::{self, Facts, Moderate, Refused};
use crate::content::{HideReason, ReportReason};
use events::catalog::ContentEvent;
use events::catalog::content::{CommentAdded, CommentDeleted, ContentRef, PostBody};
use events::ids::{CommentId, PostId, UserId};
use std::collections::BTreeSet;

/// What the rules need to know about a comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Comment {
    /// Never added.
    #[default]
    Absent,
    /// Published, possibly hidden by a moderator.
    Live {
        /// The comment's id, for the events it emits.
        id: CommentId,
        /// Who wrote it.
        author: UserId,
        /// The post it belongs to.
        post: PostId,
        /// Hidden by a moderator.
        hidden: bool,
        /// Who reported it already.
        reporters: BTreeSet<UserId>,
    },
    /// Deleted by its author, for good.
    Deleted,
}

/// What a user asks of a comment.
#[derive(Debug, Clone, PartialEq)]
pub enum CommentCommand {
    /// Comment on a post.
    Add {
        /// The new comment's id.
        comment: CommentId,
        /// The post commented on.
        post: PostId,
        /// The caller.
        author: UserId,
        /// The comment answered, if any. The caller checks it belongs to
        /// `post`; this aggregate knows only its own comment.
        reply_to: Option<CommentId>,
        /// What it says, from [`text::compose_comment`](super::text::compose_comment) (no media).
        body: PostBody,
        /// Whether the post exists and is not deleted (looked up by the caller).
        post_live: bool,
        /// Whether the post's author blocks the caller (looked up by the caller).
        blocked_by_post_author: bool,
    },
    /// Delete the comment (its author only).
    Delete {
        /// The caller.
        by: UserId,
    },
    /// Report it to the moderators (anyone but the author, once each).
    Report {
        /// The caller.
        by: UserId,
        /// Why.
        reason: ReportReason,
    },
    /// Hide it from everyone but moderators.
    Hide {
        /// The caller.
        by: UserId,
        /// Whether the caller moderates (looked up by the caller).
        is_moderator: bool,
        /// Why, if the moderator says.
        reason: Option<HideReason>,
    },
    /// Make a hidden comment visible again.
    Restore {
        /// The caller.
        by: UserId,
        /// Whether the caller moderates (looked up by the caller).
        is_moderator: bool,
    },
}

/// Why a comment command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentRejection {
    /// Commenting on a post that does not exist or was deleted.
    #[error("This post does not exist.")]
    NoSuchPost,
    /// The post's author blocks the caller.
    #[error("You cannot comment on this post.")]
    Blocked,
    /// No comment has this id.
    #[error("This comment does not exist.")]
    NoSuchComment,
    /// Adding a comment under an id already used, even by a deleted comment.
    #[error("A comment with this id already exists.")]
    AlreadyExists,
    /// The comment was deleted; nothing more can happen to it.
    #[error("This comment has been deleted.")]
    CommentDeleted,
    /// Deleting someone else's comment.
    #[error("Only the author can delete this comment.")]
    NotTheAuthor,
    /// Hiding or restoring without being a moderator.
    #[error("Only moderators can hide or restore comments.")]
    NotAModerator,
    /// Reporting one's own comment.
    #[error("You cannot report your own comment.")]
    CannotReportOwnContent,
}

/// Decides what a command does to a comment: at most one event, none when the
/// command is already satisfied (a second report by the same user, hiding a
/// hidden comment, restoring a visible one).
pub fn decide(comment: &Comment, command: CommentCommand) -> Result<Vec<ContentEvent>, CommentRejection> {
    use CommentCommand as C;
    use CommentRejection as R;
    let (id, author, post, hidden, reporters) = match comment {
        Comment::Absent => return add(command),
        Comment::Deleted if matches!(command, C::Add { .. }) => return Err(R::AlreadyExists),
        Comment::Deleted => return Err(R::CommentDeleted),
        Comment::Live { id, author, post, hidden, reporters } => (*id, author, *post, *hidden, reporters),
    };
    let moderate = |request| {
        let facts = Facts { target: ContentRef::Comment(id), author, hidden, reporters };
        moderation::decide(facts, request).map_err(|refused| match refused {
            Refused::NotAModerator => R::NotAModerator,
            Refused::OwnContent => R::CannotReportOwnContent,
        })
    };
    match command {
        C::Add { .. } => Err(R::AlreadyExists),
        C::Delete { by } if by != *author => Err(R::NotTheAuthor),
        C::Delete { by } => Ok(vec![CommentDeleted { comment: id, post, by }.into()]),
        C::Report { by, reason } => moderate(Moderate::Report { by, reason }),
        C::Hide { by, is_moderator, reason } => moderate(Moderate::Hide { by, is_moderator, reason }),
        C::Restore { by, is_moderator } => moderate(Moderate::Restore { by, is_moderator }),
    }
}

/// A command on a comment that does not exist yet.
fn add(command: CommentCommand) -> Result<Vec<ContentEvent>, CommentRejection> {
    match command {
        CommentCommand::Add { post_live: false, .. } => Err(CommentRejection::NoSuchPost),
        CommentCommand::Add { blocked_by_post_author: true, .. } => Err(CommentRejection::Blocked),
        CommentCommand::Add { comment, post, author, reply_to, body, .. } => {
            Ok(vec![CommentAdded { comment, post, author, reply_to, body }.into()])
        }
        _ => Err(CommentRejection::NoSuchComment),
    }
}

/// Folds one event of the comment's subject into its state.
pub fn evolve(comment: Comment, event: &ContentEvent) -> Comment {
    match (comment, event) {
        (_, ContentEvent::CommentAdded(e)) => Comment::Live {
            id: e.comment,
            author: e.author.clone(),
            post: e.post,
            hidden: false,
            reporters: BTreeSet::new(),
        },
        (_, ContentEvent::CommentDeleted(_)) => Comment::Deleted,
        (Comment::Live { id, author, post, mut hidden, mut reporters }, event) => {
            moderation::evolve(ContentRef::Comment(id), &mut hidden, &mut reporters, event);
            Comment::Live { id, author, post, hidden, reporters }
        }
        (comment, _) => comment,
    }
}

crate::decider::decider!(Comment, CommentCommand, ContentEvent, CommentRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decider::given::Given;
    use events::catalog::content::{ContentHidden, ContentReported, ContentRestored};

    const POST: PostId = PostId(uuid::Uuid::from_u128(1));
    const COMMENT: CommentId = CommentId(uuid::Uuid::from_u128(2));
    const PARENT: CommentId = CommentId(uuid::Uuid::from_u128(3));

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn body(text: &str) -> PostBody {
        PostBody { text: text.to_owned(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] }
    }

    /// Ben answers an earlier comment on Ana's post.
    fn add_when(post_live: bool, blocked_by_post_author: bool) -> CommentCommand {
        CommentCommand::Add {
            comment: COMMENT,
            post: POST,
            author: user("ben"),
            reply_to: Some(PARENT),
            body: body("nice"),
            post_live,
            blocked_by_post_author,
        }
    }

    /// Ben comments on Ana's live post, and she does not block him.
    fn add() -> CommentCommand {
        add_when(true, false)
    }

    fn added() -> ContentEvent {
        CommentAdded { comment: COMMENT, post: POST, author: user("ben"), reply_to: Some(PARENT), body: body("nice") }
            .into()
    }

    fn deleted() -> ContentEvent {
        CommentDeleted { comment: COMMENT, post: POST, by: user("ben") }.into()
    }

    fn reported_by(by: &str) -> ContentEvent {
        ContentReported { target: ContentRef::Comment(COMMENT), by: user(by), reason: "rude".to_owned() }.into()
    }

    fn hidden() -> ContentEvent {
        ContentHidden { target: ContentRef::Comment(COMMENT), by: user("mod"), reason: None }.into()
    }

    fn report(by: &str) -> CommentCommand {
        CommentCommand::Report { by: user(by), reason: ReportReason::parse("rude").unwrap() }
    }

    fn hide(is_moderator: bool) -> CommentCommand {
        CommentCommand::Hide { by: user("mod"), is_moderator, reason: None }
    }

    fn restore(is_moderator: bool) -> CommentCommand {
        CommentCommand::Restore { by: user("mod"), is_moderator }
    }

    fn given(history: impl IntoIterator<Item = ContentEvent>) -> Given<Comment> {
        crate::decider::given::given(history)
    }

    #[test]
    fn a_user_comments_on_a_live_post() {
        given([]).when(add()).then(added());
    }

    #[test]
    fn a_post_that_is_not_live_cannot_be_commented_on() {
        given([]).when(add_when(false, false)).then_rejects(CommentRejection::NoSuchPost);
    }

    #[test]
    fn a_blocked_user_cannot_comment() {
        given([]).when(add_when(true, true)).then_rejects(CommentRejection::Blocked);
    }

    #[test]
    fn an_id_cannot_be_used_twice_even_after_deletion() {
        given([added()]).when(add()).then_rejects(CommentRejection::AlreadyExists);
        given([added(), deleted()]).when(add()).then_rejects(CommentRejection::AlreadyExists);
    }

    #[test]
    fn the_author_deletes_their_comment() {
        given([added()]).when(CommentCommand::Delete { by: user("ben") }).then(deleted());
    }

    #[test]
    fn only_the_author_can_delete_a_comment() {
        given([added()]).when(CommentCommand::Delete { by: user("ana") }).then_rejects(CommentRejection::NotTheAuthor);
    }

    #[test]
    fn a_missing_comment_cannot_be_changed() {
        for command in [CommentCommand::Delete { by: user("ben") }, report("ana"), hide(true), restore(true)] {
            given([]).when(command).then_rejects(CommentRejection::NoSuchComment);
        }
    }

    #[test]
    fn a_deleted_comment_cannot_be_deleted_or_moderated() {
        for command in [CommentCommand::Delete { by: user("ben") }, report("ana"), hide(true), restore(true)] {
            given([added(), deleted()]).when(command).then_rejects(CommentRejection::CommentDeleted);
        }
    }

    #[test]
    fn a_user_reports_someone_elses_comment_once() {
        given([added()]).when(report("ana")).then(reported_by("ana"));
        given([added(), reported_by("ana")]).when(report("ana")).then_nothing();
    }

    #[test]
    fn nobody_can_report_their_own_comment() {
        given([added()]).when(report("ben")).then_rejects(CommentRejection::CannotReportOwnContent);
    }

    #[test]
    fn a_moderator_hides_and_restores_a_comment() {
        given([added()]).when(hide(true)).then(hidden());
        given([added(), hidden()])
            .when(restore(true))
            .then(ContentRestored { target: ContentRef::Comment(COMMENT), by: user("mod") });
    }

    #[test]
    fn only_moderators_can_hide_or_restore_a_comment() {
        given([added()]).when(hide(false)).then_rejects(CommentRejection::NotAModerator);
        given([added(), hidden()]).when(restore(false)).then_rejects(CommentRejection::NotAModerator);
    }

    #[test]
    fn hiding_a_hidden_comment_or_restoring_a_visible_one_changes_nothing() {
        given([added(), hidden()]).when(hide(true)).then_nothing();
        given([added()]).when(restore(true)).then_nothing();
    }
}

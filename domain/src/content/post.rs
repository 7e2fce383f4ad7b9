//! A post: who may create, edit, delete, report, hide and restore it.
//! Subject `content.post.<post>`. Text rules (length, tags, the word list) are
//! checked before, by [`text::compose`](super::text::compose).

use super::moderation::{self, Facts, Moderate, Refused};
use crate::content::{HideReason, ReportReason};
use events::catalog::ContentEvent;
use events::catalog::content::{ContentRef, PostBody, PostCreated, PostDeleted, PostEdited};
use events::ids::{PostId, UserId};
use std::collections::BTreeSet;

/// What the rules need to know about a post.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Post {
    /// Never created.
    #[default]
    Absent,
    /// Published, possibly hidden by a moderator.
    Live {
        /// The post's id, for the events it emits.
        id: PostId,
        /// Who wrote it.
        author: UserId,
        /// Hidden by a moderator; edits keep it hidden.
        hidden: bool,
        /// Who reported it already.
        reporters: BTreeSet<UserId>,
    },
    /// Deleted by its author, for good.
    Deleted,
}

/// What a user asks of a post.
#[derive(Debug, Clone, PartialEq)]
pub enum PostCommand {
    /// Publish a new post.
    Create {
        /// Its new id.
        post: PostId,
        /// The caller.
        author: UserId,
        /// What it says, from [`text::compose`](super::text::compose).
        body: PostBody,
    },
    /// Replace the text and media (author only).
    Edit {
        /// The caller.
        by: UserId,
        /// The new body, from [`text::compose`](super::text::compose).
        body: PostBody,
    },
    /// Delete the post (author only).
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
    /// Make a hidden post visible again.
    Restore {
        /// The caller.
        by: UserId,
        /// Whether the caller moderates (looked up by the caller).
        is_moderator: bool,
    },
}

/// Why a post command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostRejection {
    /// No post has this id.
    #[error("This post does not exist.")]
    NoSuchPost,
    /// Creating a post under an id already used, even by a deleted post.
    #[error("A post with this id already exists.")]
    AlreadyExists,
    /// The post was deleted; nothing more can happen to it.
    #[error("This post has been deleted.")]
    PostDeleted,
    /// Editing or deleting someone else's post.
    #[error("Only the author can edit or delete this post.")]
    NotTheAuthor,
    /// Hiding or restoring without being a moderator.
    #[error("Only moderators can hide or restore posts.")]
    NotAModerator,
    /// Reporting one's own post.
    #[error("You cannot report your own post.")]
    CannotReportOwnContent,
}

/// Decides what a command does to a post: at most one event, none when the
/// command is already satisfied (a second report by the same user, hiding a
/// hidden post, restoring a visible one).
pub fn decide(post: &Post, command: PostCommand) -> Result<Vec<ContentEvent>, PostRejection> {
    use PostCommand as C;
    use PostRejection as R;
    let (id, author, hidden, reporters) = match post {
        Post::Absent => {
            return match command {
                C::Create { post, author, body } => Ok(vec![PostCreated { post, author, body }.into()]),
                _ => Err(R::NoSuchPost),
            };
        }
        Post::Deleted if matches!(command, C::Create { .. }) => return Err(R::AlreadyExists),
        Post::Deleted => return Err(R::PostDeleted),
        Post::Live { id, author, hidden, reporters } => (*id, author, *hidden, reporters),
    };
    let moderate = |request| {
        let facts = Facts { target: ContentRef::Post(id), author, hidden, reporters };
        moderation::decide(facts, request).map_err(|refused| match refused {
            Refused::NotAModerator => R::NotAModerator,
            Refused::OwnContent => R::CannotReportOwnContent,
        })
    };
    match command {
        C::Create { .. } => Err(R::AlreadyExists),
        C::Edit { by, .. } | C::Delete { by } if by != *author => Err(R::NotTheAuthor),
        C::Edit { body, .. } => Ok(vec![PostEdited { post: id, body }.into()]),
        C::Delete { by } => Ok(vec![PostDeleted { post: id, by }.into()]),
        C::Report { by, reason } => moderate(Moderate::Report { by, reason }),
        C::Hide { by, is_moderator, reason } => moderate(Moderate::Hide { by, is_moderator, reason }),
        C::Restore { by, is_moderator } => moderate(Moderate::Restore { by, is_moderator }),
    }
}

/// Folds one event of the post's subject into its state.
pub fn evolve(post: Post, event: &ContentEvent) -> Post {
    match (post, event) {
        (_, ContentEvent::PostCreated(e)) => {
            Post::Live { id: e.post, author: e.author.clone(), hidden: false, reporters: BTreeSet::new() }
        }
        (_, ContentEvent::PostDeleted(_)) => Post::Deleted,
        (Post::Live { id, author, mut hidden, mut reporters }, event) => {
            moderation::evolve(ContentRef::Post(id), &mut hidden, &mut reporters, event);
            Post::Live { id, author, hidden, reporters }
        }
        // Edits change nothing `decide` looks at.
        (post, _) => post,
    }
}

crate::decider::decider!(Post, PostCommand, ContentEvent, PostRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decider::given::Given;
    use events::catalog::content::{ContentHidden, ContentReported, ContentRestored};

    const POST: PostId = PostId(uuid::Uuid::from_u128(1));

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn body(text: &str) -> PostBody {
        PostBody { text: text.to_owned(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] }
    }

    fn created_by(author: &str) -> ContentEvent {
        PostCreated { post: POST, author: user(author), body: body("hi") }.into()
    }

    fn deleted() -> ContentEvent {
        PostDeleted { post: POST, by: user("ana") }.into()
    }

    fn reported_by(by: &str) -> ContentEvent {
        ContentReported { target: ContentRef::Post(POST), by: user(by), reason: "spam".to_owned() }.into()
    }

    fn hidden() -> ContentEvent {
        ContentHidden { target: ContentRef::Post(POST), by: user("mod"), reason: None }.into()
    }

    fn report(by: &str) -> PostCommand {
        PostCommand::Report { by: user(by), reason: ReportReason::parse("spam").unwrap() }
    }

    fn hide(is_moderator: bool) -> PostCommand {
        PostCommand::Hide { by: user("mod"), is_moderator, reason: None }
    }

    fn restore(is_moderator: bool) -> PostCommand {
        PostCommand::Restore { by: user("mod"), is_moderator }
    }

    fn given(history: impl IntoIterator<Item = ContentEvent>) -> Given<Post> {
        crate::decider::given::given(history)
    }

    #[test]
    fn a_post_is_created_under_a_new_id() {
        given([])
            .when(PostCommand::Create { post: POST, author: user("ana"), body: body("hi") })
            .then(created_by("ana"));
    }

    #[test]
    fn an_id_cannot_be_used_twice_even_after_deletion() {
        let create = || PostCommand::Create { post: POST, author: user("ana"), body: body("hi") };
        given([created_by("ana")]).when(create()).then_rejects(PostRejection::AlreadyExists);
        given([created_by("ana"), deleted()]).when(create()).then_rejects(PostRejection::AlreadyExists);
    }

    #[test]
    fn the_author_edits_and_deletes_their_post() {
        given([created_by("ana")])
            .when(PostCommand::Edit { by: user("ana"), body: body("new") })
            .then(PostEdited { post: POST, body: body("new") });
        given([created_by("ana")]).when(PostCommand::Delete { by: user("ana") }).then(deleted());
    }

    #[test]
    fn only_the_author_can_edit_a_post() {
        given([created_by("ana")])
            .when(PostCommand::Edit { by: user("ben"), body: body("mine now") })
            .then_rejects(PostRejection::NotTheAuthor);
    }

    #[test]
    fn only_the_author_can_delete_a_post() {
        given([created_by("ana")])
            .when(PostCommand::Delete { by: user("ben") })
            .then_rejects(PostRejection::NotTheAuthor);
    }

    #[test]
    fn a_missing_post_cannot_be_changed() {
        for command in [
            PostCommand::Edit { by: user("ana"), body: body("x") },
            PostCommand::Delete { by: user("ana") },
            report("ben"),
            hide(true),
        ] {
            given([]).when(command).then_rejects(PostRejection::NoSuchPost);
        }
    }

    #[test]
    fn a_deleted_post_cannot_be_edited_deleted_or_moderated() {
        for command in [
            PostCommand::Edit { by: user("ana"), body: body("x") },
            PostCommand::Delete { by: user("ana") },
            report("ben"),
            hide(true),
            restore(true),
        ] {
            given([created_by("ana"), deleted()]).when(command).then_rejects(PostRejection::PostDeleted);
        }
    }

    #[test]
    fn a_user_reports_someone_elses_post() {
        given([created_by("ana")]).when(report("ben")).then(reported_by("ben"));
    }

    #[test]
    fn reporting_twice_is_one_report() {
        given([created_by("ana"), reported_by("ben")]).when(report("ben")).then_nothing();
        given([created_by("ana"), reported_by("ben")]).when(report("cy")).then(reported_by("cy"));
    }

    #[test]
    fn nobody_can_report_their_own_post() {
        given([created_by("ana")]).when(report("ana")).then_rejects(PostRejection::CannotReportOwnContent);
    }

    #[test]
    fn a_moderator_hides_and_restores_a_post() {
        given([created_by("ana")])
            .when(PostCommand::Hide {
                by: user("mod"),
                is_moderator: true,
                reason: Some(HideReason::parse("abuse").unwrap()),
            })
            .then(ContentHidden { target: ContentRef::Post(POST), by: user("mod"), reason: Some("abuse".to_owned()) });
        given([created_by("ana"), hidden()])
            .when(restore(true))
            .then(ContentRestored { target: ContentRef::Post(POST), by: user("mod") });
    }

    #[test]
    fn only_moderators_can_hide_or_restore_a_post() {
        given([created_by("ana")]).when(hide(false)).then_rejects(PostRejection::NotAModerator);
        given([created_by("ana"), hidden()]).when(restore(false)).then_rejects(PostRejection::NotAModerator);
        given([created_by("ana"), hidden()]).when(hide(false)).then_rejects(PostRejection::NotAModerator);
    }

    #[test]
    fn hiding_a_hidden_post_or_restoring_a_visible_one_changes_nothing() {
        given([created_by("ana"), hidden()]).when(hide(true)).then_nothing();
        given([created_by("ana")]).when(restore(true)).then_nothing();
        let restored = ContentRestored { target: ContentRef::Post(POST), by: user("mod") };
        given([created_by("ana"), hidden(), restored.into()]).when(restore(true)).then_nothing();
    }

    #[test]
    fn editing_keeps_a_hidden_post_hidden() {
        let edited = PostEdited { post: POST, body: body("cleaned up") };
        given([created_by("ana"), hidden(), edited.into()]).when(hide(true)).then_nothing();
    }

    #[test]
    fn moderation_of_other_content_does_not_touch_the_post() {
        let other = ContentRef::Comment(events::ids::CommentId(uuid::Uuid::from_u128(9)));
        let elsewhere = ContentHidden { target: other, by: user("mod"), reason: None };
        given([created_by("ana"), elsewhere.into()]).when(restore(true)).then_nothing();
    }
}

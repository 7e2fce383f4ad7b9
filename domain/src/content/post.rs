//! A post: who may edit, delete, report, hide and restore it.

use crate::content::ReportReason;
use events::catalog::ContentEvent;
use events::catalog::content::{
    ContentHidden, ContentRef, ContentReported, ContentRestored, PostBody, PostCreated, PostDeleted, PostEdited,
};
use events::ids::{PostId, UserId};
use std::collections::BTreeSet;

/// What the rules need to know about a post.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Post {
    /// Never created.
    #[default]
    Absent,
    /// Published.
    Live {
        /// The post.
        id: PostId,
        /// Who wrote it.
        author: UserId,
        /// Hidden by a moderator.
        hidden: bool,
        /// Who reported it already.
        reporters: BTreeSet<UserId>,
    },
    /// Deleted by its author.
    Deleted,
}

/// What a user asks of a post.
#[derive(Debug, Clone, PartialEq)]
pub enum PostCommand {
    /// Publish a new post.
    Create {
        /// Its id.
        post: PostId,
        /// The caller.
        author: UserId,
        /// What it says.
        body: PostBody,
    },
    /// Replace the body.
    Edit {
        /// The caller.
        by: UserId,
        /// The new body.
        body: PostBody,
    },
    /// Delete the post.
    Delete {
        /// The caller.
        by: UserId,
    },
    /// Report it to the moderators.
    Report {
        /// The caller.
        by: UserId,
        /// Why.
        reason: ReportReason,
    },
    /// Hide it (moderators).
    Hide {
        /// The caller.
        by: UserId,
        /// Whether the caller moderates (an outside fact).
        is_moderator: bool,
        /// Why.
        reason: Option<String>,
    },
    /// Show it again (moderators).
    Restore {
        /// The caller.
        by: UserId,
        /// Whether the caller moderates (an outside fact).
        is_moderator: bool,
    },
}

/// Why a post command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostRejection {
    /// No post with that id.
    #[error("no such post")]
    NoSuchPost,
    /// The id is taken.
    #[error("a post with this id already exists")]
    AlreadyExists,
    /// The post was deleted.
    #[error("the post was deleted")]
    PostDeleted,
    /// Only the author may do this.
    #[error("only the author can change this post")]
    NotTheAuthor,
    /// Only moderators may do this.
    #[error("only moderators can do this")]
    NotAModerator,
    /// Reporting your own post.
    #[error("you cannot report your own post")]
    CannotReportOwnContent,
}

/// Decides what a command on a post does.
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
        Post::Deleted => return Err(R::PostDeleted),
        Post::Live { id, author, hidden, reporters } => (*id, author, *hidden, reporters),
    };
    let target = ContentRef::Post(id);
    match command {
        C::Create { .. } => Err(R::AlreadyExists),
        C::Edit { by, .. } | C::Delete { by } if by != *author => Err(R::NotTheAuthor),
        C::Edit { body, .. } => Ok(vec![PostEdited { post: id, body }.into()]),
        C::Delete { by } => Ok(vec![PostDeleted { post: id, by }.into()]),
        C::Report { by, .. } if by == *author => Err(R::CannotReportOwnContent),
        C::Report { by, .. } if reporters.contains(&by) => Ok(vec![]),
        C::Report { by, reason } => Ok(vec![ContentReported { target, by, reason: reason.into_string() }.into()]),
        C::Hide { is_moderator: false, .. } | C::Restore { is_moderator: false, .. } => Err(R::NotAModerator),
        C::Hide { .. } if hidden => Ok(vec![]),
        C::Hide { by, reason, .. } => Ok(vec![ContentHidden { target, by, reason }.into()]),
        C::Restore { .. } if !hidden => Ok(vec![]),
        C::Restore { by, .. } => Ok(vec![ContentRestored { target, by }.into()]),
    }
}

/// Folds one event into the post.
pub fn evolve(post: Post, event: &ContentEvent) -> Post {
    match (post, event) {
        (_, ContentEvent::PostCreated(e)) => {
            Post::Live { id: e.post, author: e.author.clone(), hidden: false, reporters: BTreeSet::new() }
        }
        (_, ContentEvent::PostDeleted(_)) => Post::Deleted,
        (Post::Live { id, author, mut reporters, hidden }, ContentEvent::ContentReported(e)) => {
            reporters.insert(e.by.clone());
            Post::Live { id, author, hidden, reporters }
        }
        (Post::Live { id, author, reporters, .. }, ContentEvent::ContentHidden(_)) => {
            Post::Live { id, author, hidden: true, reporters }
        }
        (Post::Live { id, author, reporters, .. }, ContentEvent::ContentRestored(_)) => {
            Post::Live { id, author, hidden: false, reporters }
        }
        (post, _) => post, // edits change nothing `decide` looks at
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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

    struct Given(Post);

    fn given(events: impl IntoIterator<Item = ContentEvent>) -> Given {
        Given(events.into_iter().fold(Post::default(), |post, e| evolve(post, &e)))
    }

    impl Given {
        fn when(self, command: PostCommand) -> Result<Vec<ContentEvent>, PostRejection> {
            decide(&self.0, command)
        }
    }

    fn reason() -> ReportReason {
        ReportReason::parse("spam").unwrap()
    }

    #[test]
    fn a_new_post_is_created_once() {
        let create = || PostCommand::Create { post: POST, author: user("ana"), body: body("hi") };
        assert_eq!(given([]).when(create()), Ok(vec![created_by("ana")]));
        assert_eq!(given([created_by("ana")]).when(create()), Err(PostRejection::AlreadyExists));
    }

    #[test]
    fn only_the_author_can_edit_or_delete_a_post() {
        let edit = |by: &str| PostCommand::Edit { by: user(by), body: body("new") };
        assert_eq!(given([created_by("ana")]).when(edit("ben")), Err(PostRejection::NotTheAuthor));
        assert_eq!(given([created_by("ana")]).when(PostCommand::Delete { by: user("ben") }), Err(PostRejection::NotTheAuthor));
        assert_eq!(given([created_by("ana")]).when(edit("ana")), Ok(vec![PostEdited { post: POST, body: body("new") }.into()]));
    }

    #[test]
    fn nothing_can_be_done_to_a_missing_or_deleted_post() {
        let delete = || PostCommand::Delete { by: user("ana") };
        assert_eq!(given([]).when(delete()), Err(PostRejection::NoSuchPost));
        let deleted: ContentEvent = PostDeleted { post: POST, by: user("ana") }.into();
        assert_eq!(given([created_by("ana"), deleted]).when(delete()), Err(PostRejection::PostDeleted));
    }

    #[test]
    fn a_user_reports_a_post_once_and_never_their_own() {
        let report = |by: &str| PostCommand::Report { by: user(by), reason: reason() };
        assert_eq!(given([created_by("ana")]).when(report("ana")), Err(PostRejection::CannotReportOwnContent));
        let reported = given([created_by("ana")]).when(report("ben")).unwrap();
        assert_eq!(reported.len(), 1);
        assert_eq!(given([created_by("ana"), reported[0].clone()]).when(report("ben")), Ok(vec![]));
    }

    #[test]
    fn only_moderators_hide_and_restore_and_repeating_changes_nothing() {
        let hide = |is_moderator| PostCommand::Hide { by: user("mod"), is_moderator, reason: None };
        let restore = |is_moderator| PostCommand::Restore { by: user("mod"), is_moderator };
        assert_eq!(given([created_by("ana")]).when(hide(false)), Err(PostRejection::NotAModerator));
        assert_eq!(given([created_by("ana")]).when(restore(true)), Ok(vec![]));
        let hidden = given([created_by("ana")]).when(hide(true)).unwrap();
        assert_eq!(given([created_by("ana"), hidden[0].clone()]).when(hide(true)), Ok(vec![]));
        assert_eq!(given([created_by("ana"), hidden[0].clone()]).when(restore(false)), Err(PostRejection::NotAModerator));
        assert_eq!(given([created_by("ana"), hidden[0].clone()]).when(restore(true)).unwrap().len(), 1);
    }
}

//! Content rules: posts, comments, likes, calendar events and their RSVPs, the
//! moderation of posts and comments, and how user text becomes a
//! [`PostBody`](events::catalog::content::PostBody) (tags, mentions, the
//! moderation word list).
//!
//! One module per aggregate, each with `decide` and `evolve`: [`post`],
//! [`comment`], [`like`], [`event`] (calendar events). [`text`] and
//! [`moderation`] parse input at the edge. Never touches: NATS, HTTP, the
//! clock; whether the caller moderates or is blocked arrives in the command.

pub mod comment;
pub mod event;
pub mod like;
pub mod moderation;
pub mod post;
pub mod text;

pub use comment::{Comment, CommentCommand, CommentRejection};
pub use event::{
    CalendarEvent, CalendarEventCommand, CalendarEventRejection, CancelReason, RawEventDetails, answered, going_count,
    parse_details,
};
pub use like::{Like, LikeCommand, LikeRejection};
pub use moderation::{HideReason, ReportReason};
pub use post::{Post, PostCommand, PostRejection};
pub use text::{WordAction, WordList, compose, compose_comment};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(rejection: impl std::fmt::Display) {
        let text = rejection.to_string();
        let sentence = text.starts_with(char::is_uppercase) && text.ends_with('.');
        assert!(sentence, "{text:?} does not read as a sentence");
    }

    #[test]
    fn rejections_read_as_sentences_for_people() {
        use CalendarEventRejection as E;
        use CommentRejection as C;
        use PostRejection as P;
        for p in [
            P::NoSuchPost,
            P::AlreadyExists,
            P::PostDeleted,
            P::NotTheAuthor,
            P::NotAModerator,
            P::CannotReportOwnContent,
        ] {
            check(p);
        }
        for c in [
            C::NoSuchPost,
            C::Blocked,
            C::NoSuchComment,
            C::AlreadyExists,
            C::CommentDeleted,
            C::NotTheAuthor,
            C::NotAModerator,
            C::CannotReportOwnContent,
        ] {
            check(c);
        }
        check(LikeRejection::NoSuchPost);
        check(LikeRejection::Blocked);
        for e in [
            E::NoSuchEvent,
            E::AlreadyExists,
            E::InvalidSchedule,
            E::StartsInThePast,
            E::NotTheOrganizer,
            E::CapacityBelowAttendance { going: 3 },
            E::EventFull,
            E::EventCancelled,
            E::EventOver,
            E::Blocked,
        ] {
            check(e);
        }
    }
}

//! Moderation of posts and comments: the reasons users and moderators give,
//! and the rules shared by both kinds of content for reporting, hiding and restoring.
//!
//! Posts and comments keep the same moderation facts (hidden or not, who
//! reported already) and answer the same way, so the rules live here once and
//! [`post`](super::post) and [`comment`](super::comment) call them.

use events::catalog::ContentEvent;
use events::catalog::content::{ContentHidden, ContentRef, ContentReported, ContentRestored};
use events::ids::UserId;
use std::collections::BTreeSet;

pub use crate::input::MAX_REASON_CHARS;

crate::input::reason!(
    /// Why a user reports content.
    ReportReason
);

crate::input::reason!(
    /// Why a moderator hides content; a hide without a reason is `None`.
    HideReason
);

/// A moderation request, whatever the content.
pub(crate) enum Moderate {
    Report { by: UserId, reason: ReportReason },
    Hide { by: UserId, is_moderator: bool, reason: Option<HideReason> },
    Restore { by: UserId, is_moderator: bool },
}

/// Why a moderation request is refused; each aggregate maps it to its own
/// rejection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    NotAModerator,
    OwnContent,
}

/// The moderation facts of one live post or comment.
pub(crate) struct Facts<'a> {
    pub target: ContentRef,
    pub author: &'a UserId,
    pub hidden: bool,
    pub reporters: &'a BTreeSet<UserId>,
}

/// Decides a moderation request on live content.
pub(crate) fn decide(facts: Facts<'_>, request: Moderate) -> Result<Vec<ContentEvent>, Refused> {
    let target = facts.target;
    match request {
        Moderate::Report { by, .. } if by == *facts.author => Err(Refused::OwnContent),
        // One report per user: reporting again adds nothing for moderators.
        Moderate::Report { by, .. } if facts.reporters.contains(&by) => Ok(vec![]),
        Moderate::Report { by, reason } => {
            Ok(vec![ContentReported { target, by, reason: reason.into_string() }.into()])
        }
        // Whether the caller moderates is checked before the state, so a
        // non-moderator learns nothing about hidden content by trying.
        Moderate::Hide { is_moderator: false, .. } | Moderate::Restore { is_moderator: false, .. } => {
            Err(Refused::NotAModerator)
        }
        Moderate::Hide { .. } if facts.hidden => Ok(vec![]),
        Moderate::Hide { by, reason, .. } => {
            Ok(vec![ContentHidden { target, by, reason: reason.map(HideReason::into_string) }.into()])
        }
        Moderate::Restore { .. } if !facts.hidden => Ok(vec![]),
        Moderate::Restore { by, .. } => Ok(vec![ContentRestored { target, by }.into()]),
    }
}

/// Folds a moderation event into `hidden` and `reporters` when it is aimed at
/// `target`; any other event leaves them alone.
pub(crate) fn evolve(target: ContentRef, hidden: &mut bool, reporters: &mut BTreeSet<UserId>, event: &ContentEvent) {
    match event {
        ContentEvent::ContentReported(e) if e.target == target => {
            reporters.insert(e.by.clone());
        }
        ContentEvent::ContentHidden(e) if e.target == target => *hidden = true,
        ContentEvent::ContentRestored(e) if e.target == target => *hidden = false,
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reason_is_trimmed_and_between_1_and_500_characters() {
        assert_eq!(
            ReportReason::parse("  spam\nand more ").map(ReportReason::into_string),
            Ok("spam\nand more".to_owned())
        );
        for bad in ["", "   ", &"x".repeat(501)] {
            assert_eq!(ReportReason::parse(bad).map_err(|e| e.field), Err("reason".to_owned()), "{bad:?}");
        }
        assert!(ReportReason::parse(&"é".repeat(500)).is_ok());
    }

    #[test]
    fn a_hide_reason_is_optional_and_checked_when_given() {
        assert_eq!(HideReason::parse_optional(None), Ok(None));
        assert_eq!(HideReason::parse_optional(Some("  ")), Ok(None));
        assert_eq!(
            HideReason::parse_optional(Some(" abuse\n ")).map(|r| r.map(HideReason::into_string)),
            Ok(Some("abuse".to_owned()))
        );
        for bad in [&"x".repeat(501), "hidden\u{202E}txt"] {
            assert_eq!(HideReason::parse_optional(Some(bad)).map_err(|e| e.field), Err("reason".to_owned()), "{bad:?}");
        }
    }
}

//! Messages while away: a member who has not read a conversation's new
//! messages a short while after they arrived, and is not online, hears of
//! them once. Messages are gathered per member and window (`window`), so a
//! busy conversation tells each absent member at most once per window; when
//! the window's timer falls due the facts are read again, so reading the
//! messages (on any device) or coming online in the meantime silences it.

use super::rules::Notice;
use events::catalog::notifications::{Mutable, NotificationKind};
use events::ids::{ConversationId, UserId};
use time::{Duration, OffsetDateTime};

/// The newest unread message of a window, for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// The conversation.
    pub conversation: ConversationId,
    /// The member who may have missed it.
    pub member: UserId,
    /// Who sent the newest message of the window.
    pub sender: UserId,
    /// Where the newest message was sent (its chat stream sequence).
    pub sequence: u64,
}

/// What was true when the window's timer fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    /// Still a member of the conversation.
    pub member: bool,
    /// How far they read (a chat stream sequence), if ever.
    pub read_up_to: Option<u64>,
    /// A socket of theirs is open now.
    pub online: bool,
}

/// The window a message sent at `sent` falls in (its number) and when its
/// timer falls due: the window's end plus one more `delay`, so a member
/// hears of a message between one and two delays after it came.
pub fn window(sent: OffsetDateTime, delay: Duration) -> (i64, OffsetDateTime) {
    let length = delay.whole_milliseconds().max(1);
    let number = i64::try_from(sent.unix_timestamp_nanos() / 1_000_000 / length).unwrap_or(i64::MAX);
    let due_ms = (i128::from(number) + 2) * length;
    let due = OffsetDateTime::from_unix_timestamp_nanos(due_ms * 1_000_000).unwrap_or(sent + delay);
    (number, due)
}

/// What a due window tells: nothing when the member left, read up to its
/// newest message, or is online.
pub fn notice(missed: &Missed, since: Since) -> Option<Notice> {
    let read = since.read_up_to.is_some_and(|read| read >= missed.sequence);
    (since.member && !read && !since.online).then(|| Notice {
        recipient: missed.member.clone(),
        kind: NotificationKind::MessageReceived,
        actor: Some(missed.sender.clone()),
        text: format!("{} sent you a message", missed.sender),
        link: format!("/conversations/{}", missed.conversation),
        about: Some(Mutable::Conversation(missed.conversation)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn missed() -> Missed {
        Missed {
            conversation: ConversationId(uuid::Uuid::nil()),
            member: UserId::parse("ben").unwrap(),
            sender: UserId::parse("ana").unwrap(),
            sequence: 10,
        }
    }

    #[test]
    fn an_absent_member_who_has_not_read_hears_of_it() {
        let told = notice(&missed(), Since { member: true, read_up_to: Some(9), online: false }).unwrap();
        assert_eq!((told.kind, told.text.as_str()), (NotificationKind::MessageReceived, "ana sent you a message"));
        assert!(notice(&missed(), Since { member: true, read_up_to: None, online: false }).is_some());
    }

    #[test]
    fn reading_it_being_online_or_leaving_silences_it() {
        assert_eq!(notice(&missed(), Since { member: true, read_up_to: Some(10), online: false }), None);
        assert_eq!(notice(&missed(), Since { member: true, read_up_to: None, online: true }), None);
        assert_eq!(notice(&missed(), Since { member: false, read_up_to: None, online: false }), None);
    }

    #[test]
    fn messages_of_one_window_share_a_timer_due_one_to_two_delays_later() {
        let delay = Duration::minutes(1);
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap();
        let (first, due) = window(at(0), delay);
        assert_eq!(window(at(59), delay).0, first, "the same minute, the same window");
        assert_ne!(window(at(60), delay).0, first);
        assert!(due - at(0) >= delay && due - at(59) <= delay * 2, "{due}");
    }
}

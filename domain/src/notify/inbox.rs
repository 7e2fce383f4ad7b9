//! Reading a whole inbox: the mark "everything up to this notification",
//! which only moves forward. Notification ids are UUIDv7s of when their cause
//! happened, so they compare in time order and a mark is one id, whatever the
//! inbox holds. One notification is read on its own aggregate
//! (`super::notification`).

use events::catalog::NotificationEvent;
use events::catalog::notifications::NotificationsRead;
use events::ids::{NotificationId, UserId};

/// Why reading is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxRejection {
    /// Not a notification of the caller (or none at all: the caller cannot
    /// tell the two apart, so another user's ids leak nothing).
    #[error("There is no such notification in your inbox.")]
    NoSuchNotification,
}

/// The inbox's read mark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxMark {
    /// Everything up to and including this one is read; `None` before the
    /// first mark.
    pub up_to: Option<NotificationId>,
}

/// Mark everything up to and including a notification read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAll {
    /// The caller.
    pub recipient: UserId,
    /// The newest notification read: the newest the client showed, so what
    /// arrived after it stays unread.
    pub up_to: NotificationId,
    /// Whose notification `up_to` is (an outside fact: its aggregate's
    /// recipient, `None` when there is no such notification). Without this
    /// check a made-up id from the future would mark notifications read
    /// before they exist.
    pub up_to_recipient: Option<UserId>,
}

/// Moves the mark forward; a mark at or past `up_to` changes nothing.
pub fn decide(mark: &InboxMark, command: ReadAll) -> Result<Vec<NotificationEvent>, InboxRejection> {
    if command.up_to_recipient.as_ref() != Some(&command.recipient) {
        return Err(InboxRejection::NoSuchNotification);
    }
    if mark.up_to.is_some_and(|current| command.up_to.0 <= current.0) {
        return Ok(vec![]);
    }
    Ok(vec![NotificationsRead { recipient: command.recipient, up_to: command.up_to }.into()])
}

/// Folds one event into the mark.
pub fn evolve(mark: InboxMark, event: &NotificationEvent) -> InboxMark {
    match event {
        NotificationEvent::NotificationsRead(e) => InboxMark { up_to: Some(e.up_to) },
        _ => mark,
    }
}

crate::decider::decider!(InboxMark, ReadAll, NotificationEvent, InboxRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decider::given::given;

    const EARLY: NotificationId = NotificationId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
    const LATE: NotificationId = NotificationId(uuid::Uuid::from_u128(0x0191_0000_0000_7000_8000_0000_0000_0001));

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn read_all(up_to: NotificationId, owner: Option<&str>) -> ReadAll {
        ReadAll { recipient: user("ana"), up_to, up_to_recipient: owner.map(user) }
    }

    fn marked(up_to: NotificationId) -> NotificationEvent {
        NotificationsRead { recipient: user("ana"), up_to }.into()
    }

    #[test]
    fn read_all_moves_the_mark_forward_only() {
        given::<InboxMark>(Vec::<NotificationEvent>::new()).when(read_all(EARLY, Some("ana"))).then(marked(EARLY));
        given::<InboxMark>([marked(EARLY)]).when(read_all(LATE, Some("ana"))).then(marked(LATE));
        given::<InboxMark>([marked(LATE)]).when(read_all(EARLY, Some("ana"))).then_nothing();
        given::<InboxMark>([marked(LATE)]).when(read_all(LATE, Some("ana"))).then_nothing();
    }

    #[test]
    fn read_all_refuses_an_id_that_is_not_a_notification_of_the_caller() {
        given::<InboxMark>(Vec::<NotificationEvent>::new())
            .when(read_all(LATE, Some("bo")))
            .then_rejects(InboxRejection::NoSuchNotification);
        given::<InboxMark>(Vec::<NotificationEvent>::new())
            .when(read_all(LATE, None))
            .then_rejects(InboxRejection::NoSuchNotification);
    }
}

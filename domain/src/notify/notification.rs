//! Reading one notification: its own aggregate knows its recipient and
//! whether it was read.

use super::inbox::InboxRejection;
use events::catalog::NotificationEvent;
use events::catalog::notifications::NotificationRead;
use events::ids::{NotificationId, UserId};

/// One notification, as reading it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `None` before it was created.
    pub recipient: Option<UserId>,
    /// Read on its own (a read-all mark is the inbox's business).
    pub read: bool,
}

/// Mark one notification read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOne {
    /// The notification.
    pub notification: NotificationId,
    /// The caller.
    pub reader: UserId,
}

/// Marks a notification of the reader read; again changes nothing.
pub fn decide(state: &Notification, command: ReadOne) -> Result<Vec<NotificationEvent>, InboxRejection> {
    if state.recipient.as_ref() != Some(&command.reader) {
        return Err(InboxRejection::NoSuchNotification);
    }
    if state.read {
        return Ok(vec![]);
    }
    Ok(vec![NotificationRead { notification: command.notification, recipient: command.reader }.into()])
}

/// Folds one event into the notification.
pub fn evolve(mut state: Notification, event: &NotificationEvent) -> Notification {
    match event {
        NotificationEvent::NotificationCreated(e) => state.recipient = Some(e.recipient.clone()),
        NotificationEvent::NotificationRead(_) => state.read = true,
        _ => {}
    }
    state
}

crate::decider::decider!(Notification, ReadOne, NotificationEvent, InboxRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decider::given::given;
    use events::catalog::notifications::{Channel, NotificationCreated, NotificationKind};

    const EARLY: NotificationId = NotificationId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn created(id: NotificationId, recipient: &str) -> NotificationEvent {
        NotificationCreated {
            notification: id,
            recipient: user(recipient),
            kind: NotificationKind::NewFollower,
            actor: Some(user("bo")),
            text: "bo started following you".into(),
            link: None,
            channels: vec![Channel::InApp],
        }
        .into()
    }

    fn read_one(id: NotificationId, reader: &str) -> ReadOne {
        ReadOne { notification: id, reader: user(reader) }
    }

    #[test]
    fn the_recipient_reads_their_notification_once() {
        given::<Notification>([created(EARLY, "ana")])
            .when(read_one(EARLY, "ana"))
            .then(NotificationRead { notification: EARLY, recipient: user("ana") });
        let read: NotificationEvent = NotificationRead { notification: EARLY, recipient: user("ana") }.into();
        given::<Notification>([created(EARLY, "ana"), read]).when(read_one(EARLY, "ana")).then_nothing();
    }

    #[test]
    fn nobody_else_reads_it_and_a_missing_one_looks_the_same() {
        given::<Notification>([created(EARLY, "ana")])
            .when(read_one(EARLY, "bo"))
            .then_rejects(InboxRejection::NoSuchNotification);
        given::<Notification>(Vec::<NotificationEvent>::new())
            .when(read_one(EARLY, "ana"))
            .then_rejects(InboxRejection::NoSuchNotification);
    }
}

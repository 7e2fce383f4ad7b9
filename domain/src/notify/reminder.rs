//! Reminders: someone going to an event hears of it a lead time before it
//! starts. A reminder is set when they answer going and moved when the event
//! moves; whether it still stands is decided again when it falls due, from
//! the event as it is then, so a cancelled event, a changed answer or a
//! moved start needs no bookkeeping to silence an old reminder.

use super::rules::Notice;
use crate::content::CalendarEvent;
use events::catalog::content::Rsvp;
use events::catalog::notifications::NotificationKind;
use events::ids::{EventId, UserId};
use time::{Duration, OffsetDateTime};

/// One reminder: who, for which event, and the start it was set for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The event.
    pub event: EventId,
    /// Who is reminded.
    pub user: UserId,
    /// The start the reminder was set for.
    pub starts_at: OffsetDateTime,
}

impl Reminder {
    /// When it falls due, `lead` before the start.
    pub fn due(&self, lead: Duration) -> OffsetDateTime {
        self.starts_at - lead
    }
}

/// The reminders an answer or a change of the event sets: one for each
/// attendee going, at the event's start (`event` is the state after the
/// change). Nothing for an event that is not scheduled.
pub fn set_by(event: &CalendarEvent, only: Option<&UserId>) -> Vec<Reminder> {
    let CalendarEvent::Scheduled { id, details, rsvps, .. } = event else { return Vec::new() };
    let going = rsvps.iter().filter(|(user, rsvp)| **rsvp == Rsvp::Going && only.is_none_or(|o| o == *user));
    let mut reminders: Vec<Reminder> =
        going.map(|(user, _)| Reminder { event: *id, user: user.clone(), starts_at: details.starts_at }).collect();
    reminders.sort_by(|a, b| a.user.as_str().cmp(b.user.as_str()));
    reminders
}

/// What a due reminder tells, decided from the event now: nothing unless the
/// event is still scheduled at the same start, has not started, and the user
/// is still going.
pub fn notice(reminder: &Reminder, event: &CalendarEvent, now: OffsetDateTime) -> Option<Notice> {
    let CalendarEvent::Scheduled { id, details, rsvps, .. } = event else { return None };
    let still = details.starts_at == reminder.starts_at
        && details.starts_at > now
        && rsvps.get(&reminder.user) == Some(&Rsvp::Going);
    still.then(|| {
        let minutes = (details.starts_at - now).whole_minutes().max(1);
        let when = if minutes < 120 { format!("in {minutes} minutes") } else { format!("in {} hours", minutes / 60) };
        Notice {
            recipient: reminder.user.clone(),
            kind: NotificationKind::EventReminder,
            actor: None,
            text: format!("{} starts {when}", details.title),
            link: format!("/events/{id}"),
            about: None,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use events::catalog::content::EventDetails;
    use std::collections::HashMap;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn cancelled() -> CalendarEvent {
        let rsvps = [(user("ana"), Rsvp::Going)].into_iter().collect();
        CalendarEvent::Cancelled { organizer: user("org"), title: "Party".into(), rsvps }
    }

    fn event(starts_in: Duration, answers: &[(&str, Rsvp)]) -> CalendarEvent {
        let starts_at = now() + starts_in;
        CalendarEvent::Scheduled {
            id: EventId(uuid::Uuid::nil()),
            organizer: user("org"),
            details: EventDetails {
                title: "Party".into(),
                description: String::new(),
                place: "Hall".into(),
                starts_at,
                ends_at: starts_at + Duration::hours(2),
                capacity: None,
            },
            rsvps: answers.iter().map(|(u, r)| (user(u), *r)).collect::<HashMap<_, _>>(),
        }
    }

    #[test]
    fn reminders_are_set_for_those_going_at_the_events_start() {
        let party = event(Duration::days(1), &[("ana", Rsvp::Going), ("ben", Rsvp::Interested), ("cy", Rsvp::Going)]);
        let set = set_by(&party, None);
        let who: Vec<_> = set.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(who, ["ana", "cy"]);
        assert_eq!(set[0].due(Duration::hours(1)), now() + Duration::hours(23));
        assert_eq!(set_by(&party, Some(&user("cy"))).len(), 1);
        assert!(set_by(&party, Some(&user("ben"))).is_empty());
        assert!(set_by(&cancelled(), None).is_empty());
    }

    #[test]
    fn a_due_reminder_tells_only_while_the_event_stands_as_it_was_set() {
        let party = event(Duration::minutes(45), &[("ana", Rsvp::Going), ("ben", Rsvp::NotGoing)]);
        let reminder = |who: &str| Reminder {
            event: EventId(uuid::Uuid::nil()),
            user: user(who),
            starts_at: now() + Duration::minutes(45),
        };
        let told = notice(&reminder("ana"), &party, now()).unwrap();
        assert_eq!((told.kind, told.text.as_str()), (NotificationKind::EventReminder, "Party starts in 45 minutes"));
        assert_eq!(notice(&reminder("ben"), &party, now()), None, "changed their answer");
        assert_eq!(notice(&reminder("ana"), &cancelled(), now()), None, "cancelled");
        let moved = event(Duration::minutes(90), &[("ana", Rsvp::Going)]);
        assert_eq!(notice(&reminder("ana"), &moved, now()), None, "moved: the new start has its own reminder");
        assert_eq!(notice(&reminder("ana"), &party, now() + Duration::hours(1)), None, "already started");
    }
}

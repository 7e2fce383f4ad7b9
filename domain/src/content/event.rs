//! A calendar event people RSVP to, called `CalendarEvent` here so it is not
//! mistaken for a domain event. Subject `content.event.<event>`: the RSVPs live
//! on the event's subject because capacity is a rule over all of them.
//!
//! Owns: the schedule rules, who may change or cancel an event, capacity and
//! who may answer. The clock is read by the caller and arrives as `now`.

use crate::input::{self, InvalidInput};
use events::catalog::ContentEvent;
use events::catalog::content::{EventCancelled, EventCreated, EventDetails, EventUpdated, Rsvp, RsvpChanged};
use events::ids::{EventId, UserId};
use std::collections::HashMap;
use time::OffsetDateTime;

/// Most seats an event can have.
pub const MAX_CAPACITY: u32 = 100_000;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Longest place, in characters.
pub const MAX_PLACE_CHARS: usize = 200;

/// What the rules need to know about a calendar event.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CalendarEvent {
    /// Never created.
    #[default]
    Absent,
    /// Created and not cancelled (possibly over: that depends on `now`).
    Scheduled {
        /// The event's id, for the events it emits.
        id: EventId,
        /// Who organises it.
        organizer: UserId,
        /// What, where, when, how many, as last changed.
        details: EventDetails,
        /// Everyone's latest answer, `NotGoing` included.
        rsvps: HashMap<UserId, Rsvp>,
    },
    /// Cancelled by its organiser, for good; what it was, so those who had
    /// answered can be told.
    Cancelled {
        /// Who organised it.
        organizer: UserId,
        /// What it was called.
        title: String,
        /// Everyone's last answer before it was cancelled.
        rsvps: HashMap<UserId, Rsvp>,
    },
}

/// What a user asks of a calendar event.
#[derive(Debug, Clone, PartialEq)]
pub enum CalendarEventCommand {
    /// Create a new event.
    Create {
        /// Its new id.
        event: EventId,
        /// The caller, who organises it.
        organizer: UserId,
        /// From [`parse_details`].
        details: EventDetails,
        /// The current time, read by the caller.
        now: OffsetDateTime,
    },
    /// Replace the details (organiser only).
    Update {
        /// The caller.
        by: UserId,
        /// The details after the change, from [`parse_details`].
        details: EventDetails,
        /// The current time, read by the caller: a start that moves must move
        /// to the future, while an event under way may keep its start.
        now: OffsetDateTime,
    },
    /// Cancel the event (organiser only).
    Cancel {
        /// The caller.
        by: UserId,
        /// Why, as told to attendees, if the organiser says.
        reason: Option<CancelReason>,
    },
    /// Answer, or change one's answer.
    Respond {
        /// The caller.
        user: UserId,
        /// The answer.
        rsvp: Rsvp,
        /// Whether the organiser blocks the caller (looked up by the caller).
        blocked_by_organizer: bool,
        /// The current time, read by the caller.
        now: OffsetDateTime,
    },
}

/// Why a calendar event command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarEventRejection {
    /// No event has this id.
    #[error("This event does not exist.")]
    NoSuchEvent,
    /// Creating an event under an id already used, even by a cancelled event.
    #[error("An event with this id already exists.")]
    AlreadyExists,
    /// `ends_at` is not after `starts_at`.
    #[error("An event must end after it starts.")]
    InvalidSchedule,
    /// Creating an event, or moving its start, to before `now`.
    #[error("An event cannot start in the past.")]
    StartsInThePast,
    /// Updating or cancelling someone else's event.
    #[error("Only the organizer can change or cancel this event.")]
    NotTheOrganizer,
    /// Lowering the capacity below the number of people going.
    #[error("The capacity cannot be lower than the {going} people already going.")]
    CapacityBelowAttendance {
        /// How many are going.
        going: u32,
    },
    /// Every seat is taken.
    #[error("This event is full.")]
    EventFull,
    /// Updating or answering a cancelled event.
    #[error("This event has been cancelled.")]
    EventCancelled,
    /// Answering once the event has ended.
    #[error("This event is over.")]
    EventOver,
    /// The organiser blocks the caller.
    #[error("You cannot respond to this event.")]
    Blocked,
}

crate::input::reason!(
    /// Why an organiser cancels an event, as told to attendees; a cancel
    /// without a reason is `None`.
    CancelReason
);

/// Raw calendar event details from a request, before [`parse_details`]. The
/// times are already parsed (RFC 3339, by the HTTP layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEventDetails {
    /// 1 to 120 characters, one line.
    pub title: String,
    /// Up to 5000 characters, line breaks allowed; may be empty.
    pub description: String,
    /// 1 to 200 characters, one line: an address or a URL.
    pub place: String,
    /// When it starts.
    pub starts_at: OffsetDateTime,
    /// When it ends.
    pub ends_at: OffsetDateTime,
    /// Most people going, 1 to 100 000; `None` is unlimited. Signed so that a
    /// negative number gets a message rather than a decoding error.
    pub capacity: Option<i64>,
}

/// Trims and checks raw details: fields `title`, `description`, `place` and
/// `capacity`. Whether the schedule makes sense (end after start, start not in
/// the past) is for [`decide`], which knows `now` and the current details.
pub fn parse_details(raw: RawEventDetails) -> Result<EventDetails, InvalidInput> {
    let seats = |raw: i64| {
        let problem = || InvalidInput::new("capacity", format!("must be between 1 and {MAX_CAPACITY} (is {raw})"));
        u32::try_from(raw).ok().filter(|seats| (1..=MAX_CAPACITY).contains(seats)).ok_or_else(problem)
    };
    let capacity = raw.capacity.map(seats).transpose()?;
    Ok(EventDetails {
        title: input::text("title", &raw.title, 1, MAX_TITLE_CHARS, false)?,
        description: input::text("description", &raw.description, 0, MAX_DESCRIPTION_CHARS, true)?,
        place: input::text("place", &raw.place, 1, MAX_PLACE_CHARS, false)?,
        starts_at: raw.starts_at,
        ends_at: raw.ends_at,
        capacity,
    })
}

/// Who answered going or interested, but the organiser, in a stable order:
/// whom a change or a cancellation concerns.
pub fn answered(event: &CalendarEvent) -> Vec<UserId> {
    let (organizer, rsvps) = match event {
        CalendarEvent::Scheduled { organizer, rsvps, .. } | CalendarEvent::Cancelled { organizer, rsvps, .. } => {
            (organizer, rsvps)
        }
        CalendarEvent::Absent => return Vec::new(),
    };
    let mut answered: Vec<UserId> = rsvps
        .iter()
        .filter(|(user, rsvp)| **rsvp != Rsvp::NotGoing && *user != organizer)
        .map(|(user, _)| user.clone())
        .collect();
    answered.sort();
    answered
}

/// How many people are going; 0 unless the event is scheduled.
pub fn going_count(event: &CalendarEvent) -> u32 {
    match event {
        CalendarEvent::Scheduled { rsvps, .. } => {
            let going = rsvps.values().filter(|rsvp| **rsvp == Rsvp::Going).count();
            u32::try_from(going).unwrap_or(u32::MAX)
        }
        CalendarEvent::Absent | CalendarEvent::Cancelled { .. } => 0,
    }
}

/// Decides what a command does to a calendar event: at most one event, none
/// when the command is already satisfied (the same details again, cancelling a
/// cancelled event, the same answer again).
pub fn decide(
    event: &CalendarEvent,
    command: CalendarEventCommand,
) -> Result<Vec<ContentEvent>, CalendarEventRejection> {
    use CalendarEventCommand as C;
    use CalendarEventRejection as R;
    let (id, organizer, current, rsvps) = match event {
        CalendarEvent::Absent => return create(command),
        CalendarEvent::Cancelled { .. } => {
            return match command {
                C::Create { .. } => Err(R::AlreadyExists),
                // Whoever asks, the event is as cancelled as they want it.
                C::Cancel { .. } => Ok(vec![]),
                C::Update { .. } | C::Respond { .. } => Err(R::EventCancelled),
            };
        }
        CalendarEvent::Scheduled { id, organizer, details, rsvps } => (*id, organizer, details, rsvps),
    };
    match command {
        C::Create { .. } => Err(R::AlreadyExists),
        C::Update { by, .. } | C::Cancel { by, .. } if by != *organizer => Err(R::NotTheOrganizer),
        C::Update { details, .. } if details == *current => Ok(vec![]),
        C::Update { details, now, .. } => {
            check_schedule(&details)?;
            // An event under way keeps its start in the past; only a start
            // that moves must move to the future.
            if details.starts_at != current.starts_at && details.starts_at < now {
                return Err(R::StartsInThePast);
            }
            let going = going_count(event);
            if details.capacity.is_some_and(|seats| seats < going) {
                return Err(R::CapacityBelowAttendance { going });
            }
            Ok(vec![EventUpdated { event: id, details }.into()])
        }
        C::Cancel { reason, .. } => {
            Ok(vec![EventCancelled { event: id, reason: reason.map(CancelReason::into_string) }.into()])
        }
        // The same answer again is satisfied before anything else is checked,
        // so someone already going stays going when the event fills up.
        C::Respond { user, rsvp, .. } if rsvps.get(&user) == Some(&rsvp) => Ok(vec![]),
        C::Respond { now, .. } if now >= current.ends_at => Err(R::EventOver),
        C::Respond { blocked_by_organizer: true, .. } => Err(R::Blocked),
        C::Respond { rsvp: Rsvp::Going, .. } if current.capacity.is_some_and(|seats| going_count(event) >= seats) => {
            Err(R::EventFull)
        }
        C::Respond { user, rsvp, .. } => Ok(vec![RsvpChanged { event: id, user, rsvp }.into()]),
    }
}

/// A command on an event that does not exist yet.
fn create(command: CalendarEventCommand) -> Result<Vec<ContentEvent>, CalendarEventRejection> {
    let CalendarEventCommand::Create { event, organizer, details, now } = command else {
        return Err(CalendarEventRejection::NoSuchEvent);
    };
    check_schedule(&details)?;
    if details.starts_at < now {
        return Err(CalendarEventRejection::StartsInThePast);
    }
    Ok(vec![EventCreated { event, organizer, details }.into()])
}

fn check_schedule(details: &EventDetails) -> Result<(), CalendarEventRejection> {
    if details.ends_at <= details.starts_at {
        return Err(CalendarEventRejection::InvalidSchedule);
    }
    Ok(())
}

/// Folds one event of the calendar event's subject into its state.
pub fn evolve(event: CalendarEvent, domain_event: &ContentEvent) -> CalendarEvent {
    match (event, domain_event) {
        (_, ContentEvent::EventCreated(e)) => CalendarEvent::Scheduled {
            id: e.event,
            organizer: e.organizer.clone(),
            details: e.details.clone(),
            rsvps: HashMap::new(),
        },
        (CalendarEvent::Scheduled { organizer, details, rsvps, .. }, ContentEvent::EventCancelled(_)) => {
            CalendarEvent::Cancelled { organizer, title: details.title, rsvps }
        }
        (CalendarEvent::Scheduled { id, organizer, rsvps, .. }, ContentEvent::EventUpdated(e)) => {
            CalendarEvent::Scheduled { id, organizer, details: e.details.clone(), rsvps }
        }
        (CalendarEvent::Scheduled { id, organizer, details, mut rsvps }, ContentEvent::RsvpChanged(e)) => {
            rsvps.insert(e.user.clone(), e.rsvp);
            CalendarEvent::Scheduled { id, organizer, details, rsvps }
        }
        (event, _) => event,
    }
}

crate::decider::decider!(CalendarEvent, CalendarEventCommand, ContentEvent, CalendarEventRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decider::given::Given;
    use time::Duration;
    use time::macros::datetime;

    const EVENT: EventId = EventId(uuid::Uuid::from_u128(1));
    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    /// A two-hour event starting a day after [`NOW`].
    fn details(capacity: Option<u32>) -> EventDetails {
        let starts_at = NOW + Duration::days(1);
        EventDetails {
            title: "Rust meetup".to_owned(),
            description: String::new(),
            place: "Library".to_owned(),
            starts_at,
            ends_at: starts_at + Duration::hours(2),
            capacity,
        }
    }

    fn created(capacity: Option<u32>) -> ContentEvent {
        EventCreated { event: EVENT, organizer: user("ana"), details: details(capacity) }.into()
    }

    fn answered(by: &str, rsvp: Rsvp) -> ContentEvent {
        RsvpChanged { event: EVENT, user: user(by), rsvp }.into()
    }

    fn cancelled() -> ContentEvent {
        EventCancelled { event: EVENT, reason: None }.into()
    }

    fn create(details: EventDetails) -> CalendarEventCommand {
        CalendarEventCommand::Create { event: EVENT, organizer: user("ana"), details, now: NOW }
    }

    fn update(by: &str, details: EventDetails) -> CalendarEventCommand {
        CalendarEventCommand::Update { by: user(by), details, now: NOW }
    }

    fn cancel(by: &str) -> CalendarEventCommand {
        CalendarEventCommand::Cancel { by: user(by), reason: Some(CancelReason::parse("rain").unwrap()) }
    }

    fn respond_at(by: &str, rsvp: Rsvp, now: OffsetDateTime) -> CalendarEventCommand {
        CalendarEventCommand::Respond { user: user(by), rsvp, blocked_by_organizer: false, now }
    }

    fn respond(by: &str, rsvp: Rsvp) -> CalendarEventCommand {
        respond_at(by, rsvp, NOW)
    }

    fn given(history: impl IntoIterator<Item = ContentEvent>) -> Given<CalendarEvent> {
        crate::decider::given::given(history)
    }

    #[test]
    fn a_cancel_reason_is_optional_and_checked_when_given() {
        assert_eq!(CancelReason::parse_optional(None), Ok(None));
        assert_eq!(CancelReason::parse_optional(Some(" \n ")), Ok(None));
        assert_eq!(
            CancelReason::parse_optional(Some(" rain ")).unwrap().map(CancelReason::into_string),
            Some("rain".into())
        );
        for bad in [&"x".repeat(crate::input::MAX_REASON_CHARS + 1), "rain\u{2028}again"] {
            assert_eq!(
                CancelReason::parse_optional(Some(bad)).map_err(|e| e.field),
                Err("reason".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_event_is_created_with_its_details() {
        given([]).when(create(details(Some(10)))).then(created(Some(10)));
    }

    #[test]
    fn an_event_must_end_after_it_starts() {
        let mut backwards = details(None);
        backwards.ends_at = backwards.starts_at;
        given([]).when(create(backwards.clone())).then_rejects(CalendarEventRejection::InvalidSchedule);
        given([created(None)]).when(update("ana", backwards)).then_rejects(CalendarEventRejection::InvalidSchedule);
    }

    #[test]
    fn an_event_cannot_be_created_in_the_past() {
        let mut past = details(None);
        past.starts_at = NOW - Duration::minutes(1);
        given([]).when(create(past)).then_rejects(CalendarEventRejection::StartsInThePast);
        let mut starting_now = details(None);
        starting_now.starts_at = NOW;
        assert_eq!(given([]).when(create(starting_now)).0.map(|events| events.len()), Ok(1));
    }

    #[test]
    fn an_id_cannot_be_used_twice_even_after_cancellation() {
        given([created(None)]).when(create(details(None))).then_rejects(CalendarEventRejection::AlreadyExists);
        given([created(None), cancelled()])
            .when(create(details(None)))
            .then_rejects(CalendarEventRejection::AlreadyExists);
    }

    #[test]
    fn a_missing_event_cannot_be_changed_or_answered() {
        for command in [update("ana", details(None)), cancel("ana"), respond("ben", Rsvp::Going)] {
            given([]).when(command).then_rejects(CalendarEventRejection::NoSuchEvent);
        }
    }

    #[test]
    fn the_organizer_updates_an_event() {
        let mut moved = details(None);
        moved.place = "Town hall".to_owned();
        given([created(None)]).when(update("ana", moved.clone())).then(EventUpdated { event: EVENT, details: moved });
    }

    #[test]
    fn only_the_organizer_can_update_an_event() {
        given([created(None)])
            .when(update("ben", details(Some(5))))
            .then_rejects(CalendarEventRejection::NotTheOrganizer);
    }

    #[test]
    fn updating_with_the_same_details_changes_nothing() {
        given([created(None)]).when(update("ana", details(None))).then_nothing();
    }

    #[test]
    fn an_event_under_way_can_be_updated_but_not_moved_into_the_past() {
        let later = NOW + Duration::days(1) + Duration::hours(1);
        let under_way = |d: EventDetails| CalendarEventCommand::Update { by: user("ana"), details: d, now: later };
        let mut described = details(None);
        described.description = "Bring a laptop".to_owned();
        assert_eq!(given([created(None)]).when(under_way(described)).0.map(|events| events.len()), Ok(1));
        let mut moved_back = details(None);
        moved_back.starts_at -= Duration::minutes(30);
        given([created(None)]).when(under_way(moved_back)).then_rejects(CalendarEventRejection::StartsInThePast);
    }

    #[test]
    fn capacity_cannot_drop_below_the_people_going() {
        let history = || {
            [created(None), answered("ben", Rsvp::Going), answered("cy", Rsvp::Going), answered("di", Rsvp::Interested)]
        };
        given(history())
            .when(update("ana", details(Some(1))))
            .then_rejects(CalendarEventRejection::CapacityBelowAttendance { going: 2 });
        given(history())
            .when(update("ana", details(Some(2))))
            .then(EventUpdated { event: EVENT, details: details(Some(2)) });
    }

    #[test]
    fn the_organizer_cancels_an_event() {
        given([created(None)])
            .when(cancel("ana"))
            .then(EventCancelled { event: EVENT, reason: Some("rain".to_owned()) });
    }

    #[test]
    fn only_the_organizer_can_cancel_an_event() {
        given([created(None)]).when(cancel("ben")).then_rejects(CalendarEventRejection::NotTheOrganizer);
    }

    #[test]
    fn cancelling_a_cancelled_event_changes_nothing() {
        given([created(None), cancelled()]).when(cancel("ana")).then_nothing();
    }

    #[test]
    fn a_cancelled_event_cannot_be_updated_or_answered() {
        for command in [update("ana", details(Some(3))), respond("ben", Rsvp::Going)] {
            given([created(None), cancelled()]).when(command).then_rejects(CalendarEventRejection::EventCancelled);
        }
    }

    #[test]
    fn a_user_answers_and_changes_their_mind() {
        given([created(None)]).when(respond("ben", Rsvp::Interested)).then(answered("ben", Rsvp::Interested));
        given([created(None), answered("ben", Rsvp::Interested)])
            .when(respond("ben", Rsvp::NotGoing))
            .then(answered("ben", Rsvp::NotGoing));
    }

    #[test]
    fn the_same_answer_again_changes_nothing() {
        given([created(None), answered("ben", Rsvp::Interested)]).when(respond("ben", Rsvp::Interested)).then_nothing();
    }

    #[test]
    fn going_is_refused_when_the_event_is_full() {
        given([created(Some(1)), answered("ben", Rsvp::Going)])
            .when(respond("cy", Rsvp::Going))
            .then_rejects(CalendarEventRejection::EventFull);
    }

    #[test]
    fn someone_going_stays_going_when_the_event_is_full() {
        given([created(Some(1)), answered("ben", Rsvp::Going)]).when(respond("ben", Rsvp::Going)).then_nothing();
    }

    #[test]
    fn interest_takes_no_seat() {
        given([created(Some(1)), answered("ben", Rsvp::Going)])
            .when(respond("cy", Rsvp::Interested))
            .then(answered("cy", Rsvp::Interested));
    }

    #[test]
    fn a_seat_given_up_can_be_taken() {
        given([created(Some(1)), answered("ben", Rsvp::Going), answered("ben", Rsvp::NotGoing)])
            .when(respond("cy", Rsvp::Going))
            .then(answered("cy", Rsvp::Going));
    }

    #[test]
    fn who_answered_going_or_interested_is_known_before_and_after_a_cancellation() {
        let history = [
            created(None),
            answered("ben", Rsvp::Going),
            answered("cy", Rsvp::Interested),
            answered("dee", Rsvp::NotGoing),
            answered("ana", Rsvp::Going),
        ];
        let scheduled = <CalendarEvent as crate::Decider>::fold(history.iter());
        let cancelled_state = evolve(scheduled.clone(), &cancelled());
        for state in [&scheduled, &cancelled_state] {
            assert_eq!(super::answered(state), [user("ben"), user("cy")], "not the organiser, not `not going`");
        }
        let CalendarEvent::Cancelled { title, organizer, .. } = cancelled_state else { panic!("cancelled") };
        assert_eq!((title.as_str(), organizer), ("Rust meetup", user("ana")));
    }

    #[test]
    fn answering_once_the_event_has_ended_is_refused() {
        let ends_at = details(None).ends_at;
        given([created(None)])
            .when(respond_at("ben", Rsvp::Going, ends_at))
            .then_rejects(CalendarEventRejection::EventOver);
        let just_before = ends_at - Duration::seconds(1);
        given([created(None)]).when(respond_at("ben", Rsvp::Going, just_before)).then(answered("ben", Rsvp::Going));
    }

    #[test]
    fn a_blocked_user_cannot_respond() {
        let command = CalendarEventCommand::Respond {
            user: user("ben"),
            rsvp: Rsvp::Going,
            blocked_by_organizer: true,
            now: NOW,
        };
        given([created(None)]).when(command).then_rejects(CalendarEventRejection::Blocked);
    }

    #[test]
    fn only_people_going_are_counted() {
        let event = given([
            created(None),
            answered("ben", Rsvp::Going),
            answered("cy", Rsvp::Going),
            answered("di", Rsvp::Interested),
            answered("cy", Rsvp::NotGoing),
        ])
        .0;
        assert_eq!(going_count(&event), 1);
        assert_eq!(going_count(&CalendarEvent::Absent), 0);
        assert_eq!(going_count(&given([created(None), answered("ben", Rsvp::Going), cancelled()]).0), 0);
    }

    fn raw() -> RawEventDetails {
        RawEventDetails {
            title: "  Rust meetup ".to_owned(),
            description: "Talks\nand pizza".to_owned(),
            place: "Library".to_owned(),
            starts_at: NOW,
            ends_at: NOW + Duration::hours(2),
            capacity: Some(30),
        }
    }

    #[track_caller]
    fn check_refused(change: impl FnOnce(&mut RawEventDetails), field: &str) {
        let mut details = raw();
        change(&mut details);
        assert_eq!(parse_details(details).map_err(|e| e.field), Err(field.to_owned()));
    }

    #[test]
    fn details_are_trimmed_and_checked_field_by_field() {
        let parsed = parse_details(raw()).unwrap();
        assert_eq!((parsed.title.as_str(), parsed.capacity), ("Rust meetup", Some(30)));
        assert!(parse_details(RawEventDetails { description: String::new(), capacity: None, ..raw() }).is_ok());
        assert!(parse_details(RawEventDetails { capacity: Some(100_000), ..raw() }).is_ok());

        check_refused(|d| d.title = " ".to_owned(), "title");
        check_refused(|d| d.title = "x".repeat(121), "title");
        check_refused(|d| d.title = "two\nlines".to_owned(), "title");
        check_refused(|d| d.description = "x".repeat(5001), "description");
        check_refused(|d| d.place = String::new(), "place");
        check_refused(|d| d.place = "x".repeat(201), "place");
        check_refused(|d| d.capacity = Some(0), "capacity");
        check_refused(|d| d.capacity = Some(-1), "capacity");
        check_refused(|d| d.capacity = Some(100_001), "capacity");
    }
}

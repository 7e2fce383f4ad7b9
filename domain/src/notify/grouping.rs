//! Grouping: likes of one post, or follows, within a window become one
//! notification ("Ana and 4 others liked your post"), updated in place as
//! people join. The group's notification id derives from its key and window,
//! so the first notice creates it and the next ones find it; each person is
//! counted once however often they like, unlike and like again, or an event
//! is delivered again.

use super::rules::Notice;
use events::catalog::NotificationEvent;
use events::catalog::notifications::{NotificationGrouped, NotificationKind};
use events::ids::{NotificationId, UserId};
use std::collections::BTreeSet;
use time::{Duration, OffsetDateTime};

/// How long a group stays open; the next notice after it opens a new one.
pub const WINDOW: Duration = Duration::hours(1);

/// The group a notice joins, if its kind groups: likes of one post (by its
/// link), follows of one user.
pub fn group_key(notice: &Notice) -> Option<String> {
    match notice.kind {
        NotificationKind::PostLiked => Some(format!("liked:{}:{}", notice.recipient, notice.link)),
        NotificationKind::NewFollower => Some(format!("followed:{}", notice.recipient)),
        _ => None,
    }
}

/// The start of the window `at` falls in.
pub fn window_start(at: OffsetDateTime) -> OffsetDateTime {
    let length = i128::from(WINDOW.whole_seconds());
    let start = at.unix_timestamp_nanos() / 1_000_000_000 / length * length;
    OffsetDateTime::from_unix_timestamp_nanos(start * 1_000_000_000).unwrap_or(at)
}

/// A group's text for `actors` people, `first` the one who opened it.
pub fn text(kind: NotificationKind, first: &UserId, actors: usize) -> String {
    let what = match kind {
        NotificationKind::PostLiked => "liked your post",
        NotificationKind::NewFollower => "started following you",
        _ => "did something",
    };
    match actors.saturating_sub(1) {
        0 => format!("{first} {what}"),
        1 => format!("{first} and 1 other {what}"),
        others => format!("{first} and {others} others {what}"),
    }
}

/// A grouped notification, as joining it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// What it groups; `None` before it was created.
    pub kind: Option<NotificationKind>,
    /// Who opened it.
    pub first: Option<UserId>,
    /// Everyone in it.
    pub actors: BTreeSet<UserId>,
    /// Whose notification it is.
    pub recipient: Option<UserId>,
}

/// Someone joins a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The group's notification.
    pub notification: NotificationId,
    /// Who.
    pub actor: UserId,
}

/// Never refused: joining a group that is not there, or again, changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub enum Never {}

/// Adds someone new to the group, with the text it has now.
pub fn decide(group: &Group, join: Join) -> Result<Vec<NotificationEvent>, Never> {
    let (Some(kind), Some(first)) = (group.kind, &group.first) else { return Ok(vec![]) };
    if group.actors.contains(&join.actor) {
        return Ok(vec![]);
    }
    let actors = group.actors.len() + 1;
    let grouped = NotificationGrouped {
        notification: join.notification,
        actor: join.actor,
        actors: u32::try_from(actors).unwrap_or(u32::MAX),
        text: text(kind, first, actors),
        recipient: group.recipient.clone(),
    };
    Ok(vec![grouped.into()])
}

/// Folds one event into the group.
pub fn evolve(mut group: Group, event: &NotificationEvent) -> Group {
    match event {
        NotificationEvent::NotificationCreated(c) => {
            group.kind = Some(c.kind);
            group.first = c.actor.clone();
            group.recipient = Some(c.recipient.clone());
            group.actors.extend(c.actor.clone());
        }
        NotificationEvent::NotificationGrouped(g) => {
            group.actors.insert(g.actor.clone());
        }
        _ => {}
    }
    group
}

crate::decider::decider!(Group, Join, NotificationEvent, Never);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decider::given::given;
    use events::catalog::notifications::{Channel, NotificationCreated};

    const ID: NotificationId = NotificationId(uuid::Uuid::nil());

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn opened(by: &str) -> NotificationEvent {
        NotificationCreated {
            notification: ID,
            recipient: user("ben"),
            kind: NotificationKind::PostLiked,
            actor: Some(user(by)),
            text: format!("{by} liked your post"),
            link: Some("/posts/1".into()),
            channels: vec![Channel::InApp],
        }
        .into()
    }

    fn joined(by: &str, actors: u32, text: &str) -> NotificationGrouped {
        NotificationGrouped {
            notification: ID,
            actor: user(by),
            actors,
            text: text.into(),
            recipient: Some(user("ben")),
        }
    }

    #[test]
    fn each_new_person_updates_the_count_and_the_text() {
        let join = |by: &str| Join { notification: ID, actor: user(by) };
        given::<Group>([opened("ana")]).when(join("cy")).then(joined("cy", 2, "ana and 1 other liked your post"));
        let two: NotificationEvent = joined("cy", 2, "ana and 1 other liked your post").into();
        given::<Group>([opened("ana"), two.clone()]).when(join("dee")).then(joined(
            "dee",
            3,
            "ana and 2 others liked your post",
        ));
        given::<Group>([opened("ana"), two]).when(join("cy")).then_nothing();
        given::<Group>([opened("ana")]).when(join("ana")).then_nothing();
        given::<Group>(Vec::<NotificationEvent>::new()).when(join("ana")).then_nothing();
    }

    #[test]
    fn likes_of_one_post_and_follows_group_and_other_kinds_do_not() {
        let notice = |kind, link: &str| Notice {
            recipient: user("ben"),
            kind,
            actor: Some(user("ana")),
            text: String::new(),
            link: link.into(),
            about: None,
        };
        assert_eq!(group_key(&notice(NotificationKind::PostLiked, "/posts/1")), Some("liked:ben:/posts/1".into()));
        assert_ne!(
            group_key(&notice(NotificationKind::PostLiked, "/posts/1")),
            group_key(&notice(NotificationKind::PostLiked, "/posts/2"))
        );
        assert_eq!(group_key(&notice(NotificationKind::NewFollower, "/users/ana")), Some("followed:ben".into()));
        assert_eq!(group_key(&notice(NotificationKind::Mentioned, "/posts/1")), None);
    }

    #[test]
    fn a_window_is_an_hour_from_its_start() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_001_234).unwrap();
        let start = window_start(at);
        assert!(start <= at && at - start < WINDOW);
        assert_eq!(window_start(start + WINDOW - Duration::seconds(1)), start);
        assert_eq!(window_start(start + WINDOW), start + WINDOW);
    }
}

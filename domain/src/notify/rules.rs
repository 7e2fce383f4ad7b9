//! Who hears about what: the notifications an event calls for, before
//! preferences, quiet hours, grouping and channels (the notifier's business).
//!
//! - someone follows you; likes or comments on your post;
//! - someone mentions you (`@handle`) in a new post or comment;
//! - someone answers going or interested to your event;
//! - an event you answered going or interested to changes, or is cancelled;
//! - a moderator hides your post or comment (told without the moderator's name).
//!
//! Nobody hears about their own actions, and each event tells each person
//! once (a comment on your post that mentions you is one notification). The
//! owners and handles an event names are outside facts the notifier looks up
//! ([`needs`], [`Facts`]); blocks are too: it drops a notice whose recipient
//! blocks its actor.

use events::catalog::content::{ContentRef, PostBody, Rsvp};
use events::catalog::notifications::{Mutable, NotificationKind};
use events::catalog::{ContentEvent, DomainEvent, UserEvent};
use events::ids::{EventId, UserId};

/// Most mentions one text notifies (the parser keeps no more either).
pub const MAX_MENTIONS: usize = crate::content::text::MAX_MENTIONS;

/// One notification an event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Who hears about it.
    pub recipient: UserId,
    /// What happened.
    pub kind: NotificationKind,
    /// Who did it; `None` for notices that do not name them (moderation).
    pub actor: Option<UserId>,
    /// For people.
    pub text: String,
    /// Where it leads, in the client.
    pub link: String,
    /// The post or conversation it is about, which the recipient may have
    /// silenced.
    pub about: Option<Mutable>,
}

/// The owner an event's notices depend on, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: the event names everyone.
    Nothing,
    /// The author of this post or comment (a comment names only its post, a
    /// moderation only its target).
    Author(ContentRef),
    /// The organizer of this event.
    Organizer(EventId),
    /// Who answered going or interested to this event, and its title.
    Attendees(EventId),
}

/// What the notifier looked up for an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The answer to [`needs`]: `None` when it is gone, so no one is told.
    pub owner: Option<UserId>,
    /// The users who hold the handles of [`mentions`] now, in any order;
    /// handles nobody holds are left out.
    pub mentioned: Vec<UserId>,
    /// For [`Needs::Attendees`]: who answered going or interested
    /// ([`crate::content::answered`]), and the event's title.
    pub attendees: Vec<UserId>,
    /// The title of the event, for [`Needs::Attendees`].
    pub title: Option<String>,
}

/// The owner `notices` needs to know about for `event`.
pub fn needs(event: &DomainEvent) -> Needs {
    match event {
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => Needs::Author(ContentRef::Post(c.post)),
        DomainEvent::Content(ContentEvent::ContentHidden(h)) => Needs::Author(h.target),
        DomainEvent::Content(ContentEvent::RsvpChanged(r)) if r.rsvp != Rsvp::NotGoing => Needs::Organizer(r.event),
        DomainEvent::Content(ContentEvent::EventUpdated(e)) => Needs::Attendees(e.event),
        DomainEvent::Content(ContentEvent::EventCancelled(e)) => Needs::Attendees(e.event),
        _ => Needs::Nothing,
    }
}

/// The handles `event` mentions and notifies (lowercased, without `@`):
/// those of a new post or comment. An edit notifies no one again.
pub fn mentions(event: &DomainEvent) -> &[String] {
    let body: Option<&PostBody> = match event {
        DomainEvent::Content(ContentEvent::PostCreated(p)) => Some(&p.body),
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => Some(&c.body),
        _ => None,
    };
    body.map_or(&[], |b| &b.mentions[..b.mentions.len().min(MAX_MENTIONS)])
}

fn event_link(event: EventId) -> String {
    format!("/events/{event}")
}

/// The notices `event` calls for, given what was looked up.
pub fn notices(event: &DomainEvent, facts: &Facts) -> Vec<Notice> {
    let mut found = Vec::new();
    let about = match event {
        DomainEvent::Content(ContentEvent::PostLiked(l)) => Some(Mutable::Post(l.post)),
        DomainEvent::Content(ContentEvent::PostCreated(p)) => Some(Mutable::Post(p.post)),
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => Some(Mutable::Post(c.post)),
        _ => None,
    };
    let mut tell = |recipient: &UserId, kind, actor: Option<&UserId>, text: String, link: String| {
        let own = actor == Some(recipient);
        let told = found.iter().any(|n: &Notice| &n.recipient == recipient);
        if !own && !told {
            found.push(Notice { recipient: recipient.clone(), kind, actor: actor.cloned(), text, link, about });
        }
    };
    match event {
        DomainEvent::Users(UserEvent::Followed(f)) => tell(
            &f.followee,
            NotificationKind::NewFollower,
            Some(&f.follower),
            format!("{} started following you", f.follower),
            format!("/users/{}", f.follower),
        ),
        DomainEvent::Content(ContentEvent::PostLiked(l)) => tell(
            &l.author,
            NotificationKind::PostLiked,
            Some(&l.user),
            format!("{} liked your post", l.user),
            format!("/posts/{}", l.post),
        ),
        DomainEvent::Content(ContentEvent::PostCreated(p)) => {
            for user in &facts.mentioned {
                let text = format!("{} mentioned you in a post", p.author);
                tell(user, NotificationKind::Mentioned, Some(&p.author), text, format!("/posts/{}", p.post));
            }
        }
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => {
            let link = format!("/posts/{}#comment-{}", c.post, c.comment);
            if let Some(author) = &facts.owner {
                let text = format!("{} commented on your post", c.author);
                tell(author, NotificationKind::PostCommented, Some(&c.author), text, link.clone());
            }
            for user in &facts.mentioned {
                let text = format!("{} mentioned you in a comment", c.author);
                tell(user, NotificationKind::Mentioned, Some(&c.author), text, link.clone());
            }
        }
        DomainEvent::Content(ContentEvent::RsvpChanged(r)) => {
            if let Some(organizer) = facts.owner.as_ref().filter(|_| r.rsvp != Rsvp::NotGoing) {
                let answer = if r.rsvp == Rsvp::Going { "is going to" } else { "is interested in" };
                let text = format!("{} {answer} your event", r.user);
                tell(organizer, NotificationKind::EventRsvp, Some(&r.user), text, format!("/events/{}", r.event));
            }
        }
        DomainEvent::Content(ContentEvent::EventUpdated(e)) => {
            let text = format!("{} changed: see when and where it is now", e.details.title);
            for attendee in &facts.attendees {
                tell(attendee, NotificationKind::EventUpdated, facts.owner.as_ref(), text.clone(), event_link(e.event));
            }
        }
        DomainEvent::Content(ContentEvent::EventCancelled(e)) => {
            let title = facts.title.as_deref().unwrap_or("An event you answered");
            let reason = e.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            let text = format!("{title} was cancelled{reason}");
            for attendee in &facts.attendees {
                tell(
                    attendee,
                    NotificationKind::EventCancelled,
                    facts.owner.as_ref(),
                    text.clone(),
                    event_link(e.event),
                );
            }
        }
        DomainEvent::Content(ContentEvent::ContentHidden(h)) => {
            if let Some(author) = &facts.owner {
                let (what, link) = match h.target {
                    ContentRef::Post(post) => ("post", format!("/posts/{post}")),
                    ContentRef::Comment(comment) => ("comment", format!("/comments/{comment}")),
                };
                let reason = h.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                let text = format!("A moderator hid your {what}{reason}");
                tell(author, NotificationKind::Moderation, None, text, link);
            }
        }
        _ => {}
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use events::catalog::content::{
        CommentAdded, ContentHidden, EventCancelled, EventUpdated, PostCreated, PostLiked, RsvpChanged,
    };
    use events::catalog::users::Followed;
    use events::ids::{CommentId, PostId};

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    const POST: PostId = PostId(uuid::Uuid::nil());

    fn body(mentions: &[&str]) -> PostBody {
        let mentions = mentions.iter().map(|m| (*m).to_owned()).collect();
        PostBody { text: "hi".into(), media: vec![], hashtags: vec![], mentions, flagged: vec![] }
    }

    fn liked(by: &str, author: &str) -> DomainEvent {
        PostLiked { post: POST, user: user(by), author: user(author) }.into()
    }

    fn comment(by: &str, mentions: &[&str]) -> DomainEvent {
        let comment = CommentId(uuid::Uuid::nil());
        CommentAdded { comment, post: POST, author: user(by), reply_to: None, body: body(mentions) }.into()
    }

    fn facts(owner: Option<&str>, mentioned: &[&str]) -> Facts {
        Facts { owner: owner.map(user), mentioned: mentioned.iter().map(|m| user(m)).collect(), ..Facts::default() }
    }

    fn told(notices: &[Notice]) -> Vec<(String, NotificationKind)> {
        notices.iter().map(|n| (n.recipient.to_string(), n.kind)).collect()
    }

    #[test]
    fn a_follow_and_a_like_notify_the_one_they_concern() {
        let followed: DomainEvent = Followed { follower: user("ana"), followee: user("ben") }.into();
        let [notice] = notices(&followed, &Facts::default()).try_into().unwrap();
        assert_eq!(
            (notice.recipient, notice.actor, notice.kind),
            (user("ben"), Some(user("ana")), NotificationKind::NewFollower)
        );
        let [notice] = notices(&liked("ana", "ben"), &Facts::default()).try_into().unwrap();
        assert_eq!((notice.recipient, notice.kind), (user("ben"), NotificationKind::PostLiked));
        assert_eq!(needs(&liked("ana", "ben")), Needs::Nothing);
    }

    #[test]
    fn a_comment_notifies_the_post_author_the_caller_looked_up() {
        let event = comment("ana", &[]);
        assert_eq!(needs(&event), Needs::Author(ContentRef::Post(POST)));
        assert_eq!(told(&notices(&event, &facts(Some("ben"), &[]))), [("ben".into(), NotificationKind::PostCommented)]);
        assert!(notices(&event, &facts(None, &[])).is_empty(), "a post that is gone tells no one");
    }

    #[test]
    fn mentions_in_a_new_post_or_comment_notify_each_holder_once_and_never_the_writer() {
        let post: DomainEvent =
            PostCreated { post: POST, author: user("ana"), body: body(&["ben", "cy", "ana"]) }.into();
        assert_eq!(mentions(&post), ["ben", "cy", "ana"]);
        let found = notices(&post, &facts(None, &["ben", "cy", "ana"]));
        assert_eq!(
            told(&found),
            [("ben".into(), NotificationKind::Mentioned), ("cy".into(), NotificationKind::Mentioned)]
        );

        // The post's author, mentioned in a comment, hears of the comment once.
        let event = comment("ana", &["ben", "cy"]);
        let found = notices(&event, &facts(Some("ben"), &["ben", "cy"]));
        assert_eq!(
            told(&found),
            [("ben".into(), NotificationKind::PostCommented), ("cy".into(), NotificationKind::Mentioned)]
        );
    }

    #[test]
    fn an_answer_of_going_or_interested_notifies_the_organizer_and_not_going_does_not() {
        let event = EventId(uuid::Uuid::nil());
        let going: DomainEvent = RsvpChanged { event, user: user("ana"), rsvp: Rsvp::Going }.into();
        assert_eq!(needs(&going), Needs::Organizer(event));
        let [notice] = notices(&going, &facts(Some("ben"), &[])).try_into().unwrap();
        assert_eq!((notice.kind, notice.text.as_str()), (NotificationKind::EventRsvp, "ana is going to your event"));
        let not_going: DomainEvent = RsvpChanged { event, user: user("ana"), rsvp: Rsvp::NotGoing }.into();
        assert_eq!(needs(&not_going), Needs::Nothing);
        assert!(notices(&not_going, &facts(Some("ben"), &[])).is_empty());
    }

    #[test]
    fn a_hidden_post_or_comment_tells_its_author_without_naming_the_moderator() {
        let target = ContentRef::Comment(CommentId(uuid::Uuid::nil()));
        let hidden: DomainEvent = ContentHidden { target, by: user("mod"), reason: Some("spam".into()) }.into();
        assert_eq!(needs(&hidden), Needs::Author(target));
        let [notice] = notices(&hidden, &facts(Some("ana"), &[])).try_into().unwrap();
        assert_eq!((notice.kind, notice.actor), (NotificationKind::Moderation, None));
        assert_eq!(notice.text, "A moderator hid your comment: spam");
    }

    #[test]
    fn a_changed_or_cancelled_event_tells_everyone_who_answered_going_or_interested() {
        let event = EventId(uuid::Uuid::nil());
        let details = events::catalog::content::EventDetails {
            title: "Meetup".into(),
            description: String::new(),
            place: "Hall".into(),
            starts_at: time::OffsetDateTime::UNIX_EPOCH,
            ends_at: time::OffsetDateTime::UNIX_EPOCH,
            capacity: None,
        };
        let facts = Facts {
            owner: Some(user("org")),
            attendees: vec![user("ana"), user("ben")],
            title: Some("Meetup".into()),
            ..Facts::default()
        };
        let updated: DomainEvent = ContentEvent::from(EventUpdated { event, details }).into();
        let cancelled: DomainEvent = ContentEvent::from(EventCancelled { event, reason: Some("rain".into()) }).into();

        let changed = notices(&updated, &facts);
        let called_off = notices(&cancelled, &facts);

        let kinds = |n: &[Notice], kind| {
            n.iter().map(|n| (n.recipient.to_string(), n.kind)).collect::<Vec<_>>()
                == [("ana".to_owned(), kind), ("ben".to_owned(), kind)]
        };
        assert!(kinds(&changed, NotificationKind::EventUpdated), "{changed:?}");
        assert!(kinds(&called_off, NotificationKind::EventCancelled), "{called_off:?}");
        assert_eq!(called_off[0].text, "Meetup was cancelled: rain");
        assert!(changed[0].text.starts_with("Meetup changed"), "{}", changed[0].text);
        assert_eq!(
            (changed[0].link.as_str(), changed[0].actor.clone()),
            ("/events/00000000-0000-0000-0000-000000000000", Some(user("org")))
        );
        assert_eq!(needs(&updated), Needs::Attendees(event));
        assert_eq!(needs(&cancelled), Needs::Attendees(event));
    }

    #[test]
    fn nobody_hears_about_their_own_actions() {
        assert!(notices(&liked("ana", "ana"), &Facts::default()).is_empty());
        assert!(notices(&comment("ana", &["ana"]), &facts(Some("ana"), &["ana"])).is_empty());
    }
}

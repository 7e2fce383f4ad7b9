//! The inbox: each user's notifications, newest first, with what they read.
//!
//! Collections: `notifications` (one per notification, with `at`, its id as
//! text, whether it was read on its own, and its email's and push's status), `inboxes` (one per user who
//! ever marked everything read: `read_up_to`) and `settings` (one per user who
//! ever changed their notification settings: `preferences`, the posts and
//! conversations they muted, their push endpoints).
//!
//! Why `at` is the id: notification ids are UUIDv7s of when their cause
//! happened, and their text sorts as they do (fixed-width lowercase hex), so
//! one field gives both the list's order and the comparison with the read
//! mark. The notifications stream's own order would not do: the notifier
//! appends a like's notice after a follow's that happened later, when it read
//! the content stream behind the users stream.
//!
//! Why unread is counted at query time: a read-all mark cannot touch every
//! notification it covers (a projection writes from the event alone, and the
//! event names one id). A notification is read when it was read on its own
//! or its `at` is at or before the mark; unread counts the others among the
//! newest [`UNREAD_SCAN`], and beyond them says "at least", as chat does.

use crate::projection::{Event, Projection};
use crate::{Generation, Page};
use events::catalog::notifications::{Channel, Mutable, NotificationCreated, Preferences};
use events::catalog::{Context, DomainEvent, NotificationEvent};
use events::ids::NotificationId;
use read_store::{Collection, Direction, Document, Filter, IfMissing, Query, ReadStore, ReadStoreError, Update, Write};
use serde::Serialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

const NOTIFICATIONS: &str = "notifications";
const INBOXES: &str = "inboxes";
const SETTINGS: &str = "settings";

/// How many of the newest notifications one unread count looks at.
pub const UNREAD_SCAN: u32 = 100;

/// The inbox projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inbox;

impl Projection for Inbox {
    fn name(&self) -> &'static str {
        "inbox"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Notifications]
    }

    fn collections(&self) -> Vec<Collection> {
        // `inboxes` is read by id; its index lets a snapshot (verify, rebuild
        // checks) list it.
        vec![
            Collection::new(NOTIFICATIONS).index(&["recipient", "at"]),
            Collection::new(INBOXES).index(&["read_up_to"]),
            Collection::new(SETTINGS).index(&["user"]),
        ]
    }

    fn apply(&self, event: Event<'_>) -> Vec<Write> {
        let DomainEvent::Notifications(e) = event.event else { return Vec::new() };
        match e {
            NotificationEvent::NotificationCreated(c) => vec![created(c, event)],
            NotificationEvent::NotificationGrouped(g) => {
                let updates =
                    vec![Update::Set("text".into(), json!(g.text)), Update::Set("actors".into(), json!(g.actors))];
                vec![Write::update(NOTIFICATIONS, &g.notification.to_string(), updates, IfMissing::Skip)]
            }
            NotificationEvent::NotificationRead(r) => {
                let updates = vec![Update::Set("read".into(), json!(true))];
                vec![Write::update(NOTIFICATIONS, &r.notification.to_string(), updates, IfMissing::Skip)]
            }
            NotificationEvent::NotificationDelivered(d) => delivery(d.notification, d.channel, "sent", None),
            NotificationEvent::NotificationFailed(f) => {
                let status = if f.will_retry { "retrying" } else { "failed" };
                delivery(f.notification, f.channel, status, Some(&f.error))
            }
            NotificationEvent::NotificationSkipped(s) => {
                delivery(s.notification, s.channel, "skipped", Some(&s.reason))
            }
            NotificationEvent::NotificationsRead(r) => {
                let updates = vec![Update::Set("read_up_to".into(), json!(r.up_to.to_string()))];
                vec![Write::update(INBOXES, r.recipient.as_str(), updates, IfMissing::Create)]
            }
            NotificationEvent::PreferencesChanged(p) => {
                settings(p.user.as_str(), Update::Set("preferences".into(), json!(p.preferences)))
            }
            NotificationEvent::NotificationsMuted(m) => {
                let (field, id) = muted(m.target);
                settings(m.user.as_str(), Update::AddToSet(field.into(), json!(id)))
            }
            NotificationEvent::NotificationsUnmuted(m) => {
                let (field, id) = muted(m.target);
                settings(m.user.as_str(), Update::RemoveFromSet(field.into(), json!(id)))
            }
            NotificationEvent::PushSubscriptionAdded(a) => {
                settings(a.user.as_str(), Update::AddToSet("push_endpoints".into(), json!(a.subscription.endpoint)))
            }
            NotificationEvent::PushSubscriptionRemoved(r) => {
                settings(r.user.as_str(), Update::RemoveFromSet("push_endpoints".into(), json!(r.endpoint)))
            }
        }
    }
}

/// One change to a user's settings document, made when missing.
fn settings(user: &str, update: Update) -> Vec<Write> {
    let updates = vec![Update::Set("user".into(), json!(user)), update];
    vec![Write::update(SETTINGS, user, updates, IfMissing::Create)]
}

/// The settings field a muted target is listed in, and its id.
fn muted(target: Mutable) -> (&'static str, String) {
    match target {
        Mutable::Post(post) => ("muted_posts", post.to_string()),
        Mutable::Conversation(conversation) => ("muted_conversations", conversation.to_string()),
    }
}

/// A channel's status on its notification (fields `email` or `push`), with
/// the last error or reason; in-app has none to show.
fn delivery(notification: NotificationId, channel: Channel, status: &str, error: Option<&str>) -> Vec<Write> {
    let field = match channel {
        Channel::Email => "email",
        Channel::Push => "push",
        Channel::InApp => return Vec::new(),
    };
    let updates = vec![Update::Set(field.into(), json!(status)), Update::Set(format!("{field}_error"), json!(error))];
    vec![Write::update(NOTIFICATIONS, &notification.to_string(), updates, IfMissing::Skip)]
}

fn created(c: &NotificationCreated, at: Event<'_>) -> Write {
    let id = c.notification.to_string();
    let doc = json!({
        "recipient": c.recipient.as_str(),
        "at": id,
        "kind": c.kind,
        "actor": c.actor.as_ref().map(|a| a.as_str()),
        "text": c.text,
        "link": c.link,
        "created": at.time.format(&Rfc3339).unwrap_or_default(),
        "read": false,
        "actors": u32::from(c.actor.is_some()),
        "email": c.channels.contains(&Channel::Email).then_some("queued"),
        "push": c.channels.contains(&Channel::Push).then_some("queued"),
    });
    let Value::Object(doc) = doc else { return Write::put(NOTIFICATIONS, &id, Document::new()) };
    Write::put(NOTIFICATIONS, &id, doc)
}

/// A user's notification settings, as the inbox model keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettingsView {
    /// Channels, kinds and quiet hours.
    pub preferences: Preferences,
    /// Posts silenced, in the order they were.
    pub muted_posts: Vec<String>,
    /// Conversations silenced.
    pub muted_conversations: Vec<String>,
    /// The endpoints of their push subscriptions.
    pub push_endpoints: Vec<String>,
}

/// One notification in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NotificationView {
    /// The notification id (time-ordered): pass it to mark read, or as
    /// `up_to` to mark everything up to it read.
    pub notification: String,
    /// What it is about: `new_follower`, `post_liked`, `post_commented`,
    /// `mentioned`, `event_rsvp`, `event_reminder`, `message_received`,
    /// `event_updated`, `event_cancelled`, `moderation`.
    pub kind: String,
    /// Who caused it, if a person did (of a group: who opened it).
    pub actor: Option<String>,
    /// How many people it is about: more than one for a group ("Ana and 4
    /// others liked your post"), which is updated in place as people join.
    pub actors: u64,
    /// One line for people.
    pub text: String,
    /// Where it leads in the app.
    pub link: Option<String>,
    /// When it was decided (RFC 3339).
    pub created: String,
    /// Read on its own or by a read-all mark.
    pub read: bool,
    /// Its email: absent when none goes out; `queued`, `retrying` (an
    /// attempt failed, another follows), `sent` (the SMTP server accepted
    /// it), `failed` (for good: the dead letter) or `skipped` (email is not
    /// configured, or the recipient has no address).
    pub email: Option<String>,
    /// Why the email failed or was skipped.
    pub email_error: Option<String>,
    /// Its Web Push, as `email` (`sent`: a push service took it for at
    /// least one of the recipient's browsers).
    pub push: Option<String>,
    /// Why the push failed or was skipped.
    pub push_error: Option<String>,
}

/// A page of NotificationViews.
pub type NotificationPage = Page<NotificationView>;

/// How many notifications are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Unread among the newest [`UNREAD_SCAN`].
    pub unread: u64,
    /// There may be more (older ones were not counted).
    pub more: bool,
}

/// The queries over one generation of the inbox projection.
pub struct InboxQueries<'a, S> {
    store: &'a S,
    generation: Generation,
}

impl<'a, S: ReadStore> InboxQueries<'a, S> {
    /// Queries over `generation` in `store`.
    pub fn new(store: &'a S, generation: Generation) -> Self {
        Self { store, generation }
    }

    /// One page of `user`'s notifications, newest first.
    pub async fn page(
        &self,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<NotificationPage, ReadStoreError> {
        let mark = self.read_up_to(user).await?;
        let page = self
            .store
            .find(&self.generation.collection(NOTIFICATIONS), &newest(user).limit(limit).after(cursor))
            .await?;
        let items = page.items.iter().map(|found| view(&found.id, &found.doc, mark.as_deref())).collect();
        Ok(NotificationPage { items, next: page.next })
    }

    /// `user`'s notification settings as the log has them: the defaults for
    /// someone who never changed them.
    pub async fn settings(&self, user: &str) -> Result<NotifySettingsView, ReadStoreError> {
        let doc = self.store.get(&self.generation.collection(SETTINGS), user).await?.unwrap_or_default();
        let list = |field: &str| -> Vec<String> {
            let values = doc.get(field).and_then(Value::as_array).into_iter().flatten();
            values.filter_map(Value::as_str).map(str::to_owned).collect()
        };
        let preferences = doc.get("preferences").and_then(|p| serde_json::from_value(p.clone()).ok());
        Ok(NotifySettingsView {
            preferences: preferences.unwrap_or_default(),
            muted_posts: list("muted_posts"),
            muted_conversations: list("muted_conversations"),
            push_endpoints: list("push_endpoints"),
        })
    }

    /// How many of `user`'s newest notifications are unread.
    pub async fn unread(&self, user: &str) -> Result<UnreadCount, ReadStoreError> {
        let mark = self.read_up_to(user).await?;
        let page =
            self.store.find(&self.generation.collection(NOTIFICATIONS), &newest(user).limit(UNREAD_SCAN)).await?;
        let unread = page.items.iter().filter(|found| !is_read(&found.doc, mark.as_deref())).count() as u64;
        // Older ones can only be unread if the oldest counted is after the mark.
        let oldest_after_mark = page.items.last().is_some_and(|found| !covered(&found.doc, mark.as_deref()));
        Ok(UnreadCount { unread, more: page.next.is_some() && oldest_after_mark })
    }

    /// The id of `user`'s newest notification, if any.
    pub async fn newest(&self, user: &str) -> Result<Option<String>, ReadStoreError> {
        let page = self.store.find(&self.generation.collection(NOTIFICATIONS), &newest(user).limit(1)).await?;
        Ok(page.items.into_iter().next().map(|found| found.id))
    }

    async fn read_up_to(&self, user: &str) -> Result<Option<String>, ReadStoreError> {
        let inbox = self.store.get(&self.generation.collection(INBOXES), user).await?;
        Ok(inbox.as_ref().and_then(|d| d.get("read_up_to")).and_then(Value::as_str).map(str::to_owned))
    }
}

fn newest(user: &str) -> Query {
    Query::new(Filter::all().eq("recipient", user), "at", Direction::Descending)
}

/// At or before the read-all mark.
fn covered(doc: &Document, mark: Option<&str>) -> bool {
    let at = doc.get("at").and_then(Value::as_str).unwrap_or_default();
    mark.is_some_and(|mark| at <= mark)
}

fn is_read(doc: &Document, mark: Option<&str>) -> bool {
    doc.get("read").and_then(Value::as_bool).unwrap_or(false) || covered(doc, mark)
}

fn view(id: &str, doc: &Document, mark: Option<&str>) -> NotificationView {
    let text = |field: &str| doc.get(field).and_then(Value::as_str).map(str::to_owned);
    NotificationView {
        notification: id.to_owned(),
        kind: text("kind").unwrap_or_default(),
        actor: text("actor"),
        actors: doc.get("actors").and_then(Value::as_u64).unwrap_or(1),
        text: text("text").unwrap_or_default(),
        link: text("link"),
        created: text("created").unwrap_or_default(),
        read: is_read(doc, mark),
        email: text("email"),
        email_error: text("email_error"),
        push: text("push"),
        push_error: text("push_error"),
    }
}

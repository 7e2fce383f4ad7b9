//! Notifications context: what users are told, how, and what they asked for.
//!
//! Subjects: `notifications.notification.<notification>` (created, delivered,
//! failed), `notifications.inbox.<user>` (read marks) and
//! `notifications.preferences.<user>` (preferences and push subscriptions).

use super::{Context, catalog};
use crate::ids::{ConversationId, NotificationId, PostId, UserId};
use serde::{Deserialize, Serialize};

catalog! {
    /// Events of the notifications context.
    NotificationEvent, Context::Notifications, {
        NotificationCreated = 1,
        NotificationGrouped = 2,
        NotificationDelivered = 1,
        NotificationFailed = 1,
        NotificationSkipped = 1,
        NotificationsRead = 1,
        NotificationRead = 1,
        PreferencesChanged = 1,
        NotificationsMuted = 1,
        NotificationsUnmuted = 1,
        PushSubscriptionAdded = 1,
        PushSubscriptionRemoved = 1,
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Someone followed the recipient.
    NewFollower,
    /// Someone liked the recipient's post.
    PostLiked,
    /// Someone commented on the recipient's post.
    PostCommented,
    /// Someone mentioned the recipient.
    Mentioned,
    /// Someone answered going or interested to the recipient's event.
    EventRsvp,
    /// An event the recipient is going to starts soon.
    EventReminder,
    /// A chat message arrived while the recipient was away.
    MessageReceived,
    /// An event the recipient answered changed.
    EventUpdated,
    /// An event the recipient answered was cancelled.
    EventCancelled,
    /// Moderators acted on the recipient's content.
    Moderation,
}

/// A way to reach a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The inbox inside Pulse, and the live socket.
    InApp,
    /// SMTP.
    Email,
    /// Web Push.
    Push,
}

/// A notification was decided for a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationCreated {
    /// The new notification.
    pub notification: NotificationId,
    /// Who is told.
    pub recipient: UserId,
    /// What about.
    pub kind: NotificationKind,
    /// Who caused it, if a person did.
    pub actor: Option<UserId>,
    /// One line for people.
    pub text: String,
    /// Where it leads in the app, a path such as `/posts/<id>`.
    pub link: Option<String>,
    /// The channels it goes out on, after the recipient's preferences.
    pub channels: Vec<Channel>,
}

/// Someone else joined a grouped notification ("Ana and 4 others liked your
/// post"): it is updated in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationGrouped {
    /// The group's notification.
    pub notification: NotificationId,
    /// Who joined.
    pub actor: UserId,
    /// How many people the group holds now.
    pub actors: u32,
    /// Its text now.
    pub text: String,
    /// Whose notification it is, so their sockets hear of the change.
    /// Always set since v2; `None` for joins written as v1.
    pub recipient: Option<UserId>,
}

/// A notification reached a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDelivered {
    /// The notification.
    pub notification: NotificationId,
    /// The channel.
    pub channel: Channel,
}

/// A delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationFailed {
    /// The notification.
    pub notification: NotificationId,
    /// The channel.
    pub channel: Channel,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// Whether another attempt will follow.
    pub will_retry: bool,
}

/// A channel of a notification was not tried, for good: the channel is not
/// configured, or the recipient cannot be reached on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSkipped {
    /// The notification.
    pub notification: NotificationId,
    /// The channel.
    pub channel: Channel,
    /// Why, for operators.
    pub reason: String,
}

/// A user read their notifications up to and including one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsRead {
    /// Whose inbox.
    pub recipient: UserId,
    /// The newest notification read; ids are time-ordered.
    pub up_to: NotificationId,
}

/// A user read one notification (opened it, or marked it read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRead {
    /// The notification.
    pub notification: NotificationId,
    /// Its recipient, who read it.
    pub recipient: UserId,
}

/// What a user wants to be told, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Email notifications on or off.
    pub email: bool,
    /// Web Push notifications on or off.
    pub push: bool,
    /// Kinds the user never wants to hear of, on any channel.
    #[serde(default)]
    pub muted: Vec<NotificationKind>,
    /// The kinds that go out by email; absent: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_kinds: Option<Vec<NotificationKind>>,
    /// The kinds that go out by Web Push; absent: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_kinds: Option<Vec<NotificationKind>>,
    /// When email and push wait; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

/// A window of the day when email and Web Push wait, in the user's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// When it starts, `HH:MM`.
    pub start: String,
    /// When it ends, `HH:MM` (before `start`: the window wraps midnight).
    pub end: String,
    /// The IANA time zone (`Europe/Berlin`).
    pub time_zone: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self { email: true, push: true, muted: Vec::new(), email_kinds: None, push_kinds: None, quiet_hours: None }
    }
}

/// What a user can silence on its own: everything about one post, or one
/// conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutable {
    /// Likes, comments and mentions of a post.
    Post(PostId),
    /// Messages of a conversation.
    Conversation(ConversationId),
}

/// A user silenced a post or a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsMuted {
    /// Whose settings.
    pub user: UserId,
    /// What.
    pub target: Mutable,
}

/// A user heard of a post or a conversation again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationsUnmuted {
    /// Whose settings.
    pub user: UserId,
    /// What.
    pub target: Mutable,
}

/// A user changed their notification preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferencesChanged {
    /// Whose preferences.
    pub user: UserId,
    /// All preferences after the change.
    pub preferences: Preferences,
}

/// A browser's Web Push subscription (the PushSubscription JSON of the Push API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// The push service URL.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The shared authentication secret, base64url.
    pub auth: String,
}

/// A user's browser subscribed to Web Push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscriptionAdded {
    /// Whose browser.
    pub user: UserId,
    /// The subscription.
    pub subscription: PushSubscription,
}

/// A push subscription was removed (by the user, or because the push service
/// said it is gone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscriptionRemoved {
    /// Whose browser.
    pub user: UserId,
    /// The subscription's endpoint.
    pub endpoint: String,
}

//! Aggregates and the NATS subjects that hold them.
//!
//! One subject per aggregate instance: `<namespace>.<context>.<kind>.<key>`,
//! such as `pulse.content.post.0192...`. The event type travels in a header, not
//! in the subject, so `Nats-Expected-Last-Subject-Sequence` guards exactly one
//! aggregate. A namespace other than `pulse` isolates a test's streams.

use crate::catalog::Context;
use crate::ids::{CommentId, ConversationId, EventId, Handle, MessageId, NotificationId, PostId, UserId};
use std::fmt;

/// The address of one aggregate, without the namespace: `content.post.<id>`.
/// This is also the CloudEvents `subject` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    context: Context,
    kind: &'static str,
    key: String,
}

/// The kinds of aggregate per context, as they appear in subjects.
const KINDS: &[(Context, &str, usize)] = &[
    (Context::Users, "user", 1),
    (Context::Users, "handle", 1),
    (Context::Users, "follow", 2),
    (Context::Users, "block", 2),
    (Context::Content, "post", 1),
    (Context::Content, "comment", 1),
    (Context::Content, "like", 2),
    (Context::Content, "event", 1),
    (Context::Chat, "conversation", 1),
    (Context::Chat, "message", 2),
    (Context::Chat, "read", 2),
    (Context::Notifications, "notification", 1),
    (Context::Notifications, "inbox", 1),
    (Context::Notifications, "preferences", 1),
];

impl Aggregate {
    fn new(context: Context, kind: &'static str, key: String) -> Self {
        Self { context, kind, key }
    }

    /// A user's profile and settings.
    pub fn user(user: &UserId) -> Self {
        Self::new(Context::Users, "user", user.to_string())
    }
    /// The claim on a handle.
    pub fn handle(handle: &Handle) -> Self {
        Self::new(Context::Users, "handle", handle.to_string())
    }
    /// Whether `follower` follows `followee`.
    pub fn follow(follower: &UserId, followee: &UserId) -> Self {
        Self::new(Context::Users, "follow", format!("{follower}.{followee}"))
    }
    /// Whether `blocker` blocks `blocked`.
    pub fn block(blocker: &UserId, blocked: &UserId) -> Self {
        Self::new(Context::Users, "block", format!("{blocker}.{blocked}"))
    }
    /// A post, its edits and its moderation.
    pub fn post(post: PostId) -> Self {
        Self::new(Context::Content, "post", post.to_string())
    }
    /// A comment and its moderation.
    pub fn comment(comment: CommentId) -> Self {
        Self::new(Context::Content, "comment", comment.to_string())
    }
    /// One user's like of one post.
    pub fn like(post: PostId, user: &UserId) -> Self {
        Self::new(Context::Content, "like", format!("{post}.{user}"))
    }
    /// A calendar event and its RSVPs.
    pub fn event(event: EventId) -> Self {
        Self::new(Context::Content, "event", event.to_string())
    }
    /// A conversation's membership.
    pub fn conversation(conversation: ConversationId) -> Self {
        Self::new(Context::Chat, "conversation", conversation.to_string())
    }
    /// One message and its edits.
    pub fn message(conversation: ConversationId, message: MessageId) -> Self {
        Self::new(Context::Chat, "message", format!("{conversation}.{message}"))
    }
    /// One member's read position in a conversation.
    pub fn read(conversation: ConversationId, user: &UserId) -> Self {
        Self::new(Context::Chat, "read", format!("{conversation}.{user}"))
    }
    /// One notification's life.
    pub fn notification(notification: NotificationId) -> Self {
        Self::new(Context::Notifications, "notification", notification.to_string())
    }
    /// A user's inbox read marks.
    pub fn inbox(user: &UserId) -> Self {
        Self::new(Context::Notifications, "inbox", user.to_string())
    }
    /// A user's notification preferences and push subscriptions.
    pub fn preferences(user: &UserId) -> Self {
        Self::new(Context::Notifications, "preferences", user.to_string())
    }

    /// Parses an address such as `content.post.<id>` (as printed by the CLI and
    /// found in `ce-subject`).
    pub fn parse(address: &str) -> Result<Self, String> {
        let mut parts = address.splitn(3, '.');
        let (Some(context), Some(kind), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{address:?} is not <context>.<kind>.<key>"));
        };
        let context = Context::parse(context).ok_or_else(|| format!("unknown context {context:?}"))?;
        let (_, kind, tokens) = KINDS
            .iter()
            .find(|(c, k, _)| *c == context && *k == kind)
            .ok_or_else(|| format!("unknown aggregate kind {kind:?} in {context}"))?;
        let pieces: Vec<&str> = key.split('.').collect();
        let valid =
            pieces.len() == *tokens && pieces.iter().all(|p| UserId::parse(p).is_ok() || Handle::parse(p).is_ok());
        if !valid {
            return Err(format!("{key:?} is not a valid key for {context}.{kind}"));
        }
        Ok(Self::new(context, kind, key.to_owned()))
    }

    /// The context, and so the stream, that holds the aggregate.
    pub fn context(&self) -> Context {
        self.context
    }

    /// The kind of aggregate (`post`, `follow`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The full NATS subject under a namespace.
    pub fn subject(&self, namespace: &Namespace) -> String {
        format!("{}.{}", namespace.0, self)
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.context, self.kind, self.key)
    }
}

/// The first subject token and stream-name prefix of every stream: `pulse` in
/// production, a random one per test so tests share one NATS without seeing
/// each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// Checks a namespace: 1 to 32 characters of `a-z 0-9 _`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Self(raw.to_owned()))
            .ok_or_else(|| format!("namespace {raw:?} must be 1 to 32 characters of a-z, 0-9 and '_'"))
    }

    /// The namespace as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream stream holding a context: `PULSE_CONTENT`.
    pub fn stream(&self, context: Context) -> String {
        format!("{}_{}", self.0, context).to_ascii_uppercase()
    }

    /// The wildcard subject of a context's stream: `pulse.content.>`.
    pub fn stream_subjects(&self, context: Context) -> String {
        format!("{}.{}.>", self.0, context)
    }

    /// Strips the namespace from a full subject, giving the aggregate address.
    pub fn address<'s>(&self, subject: &'s str) -> Option<&'s str> {
        subject.strip_prefix(self.0.as_str())?.strip_prefix('.')
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("pulse".to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(aggregate: Aggregate, subject: &str) {
        let ns = Namespace::default();
        assert_eq!(aggregate.subject(&ns), subject);
        let address = ns.address(subject).unwrap();
        assert_eq!(Aggregate::parse(address), Ok(aggregate));
    }

    #[test]
    fn every_aggregate_has_one_subject_that_parses_back() {
        let ana = UserId::parse("ana").unwrap();
        let ben = UserId::parse("ben").unwrap();
        let post = PostId::parse("0192f1c4-5a6b-7c8d-9e0f-112233445566").unwrap();
        check(Aggregate::user(&ana), "pulse.users.user.ana");
        check(Aggregate::handle(&Handle::parse("ana_1").unwrap()), "pulse.users.handle.ana_1");
        check(Aggregate::follow(&ana, &ben), "pulse.users.follow.ana.ben");
        check(Aggregate::block(&ben, &ana), "pulse.users.block.ben.ana");
        check(Aggregate::post(post), "pulse.content.post.0192f1c4-5a6b-7c8d-9e0f-112233445566");
        check(Aggregate::like(post, &ana), "pulse.content.like.0192f1c4-5a6b-7c8d-9e0f-112233445566.ana");
        check(Aggregate::inbox(&ana), "pulse.notifications.inbox.ana");
    }

    #[test]
    fn addresses_that_name_no_aggregate_are_refused() {
        for bad in ["content", "content.post", "content.tweet.x", "nope.user.ana", "users.follow.ana", "users.user.a*"]
        {
            assert!(Aggregate::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn streams_are_named_per_namespace_and_context() {
        let ns = Namespace::parse("t1a2b").unwrap();
        assert_eq!(ns.stream(Context::Chat), "T1A2B_CHAT");
        assert_eq!(ns.stream_subjects(Context::Chat), "t1a2b.chat.>");
        assert!(Namespace::parse("Has.Dot").is_err());
    }
}

//! The frames of `/ws`, as docs/chat.md documents them: JSON text frames,
//! each an object whose `type` says what it is. Parsing never panics and
//! never guesses: a frame that is not one of these is an error frame's
//! matter, and the connection stays open.

use serde::{Deserialize, Serialize};

/// Close codes the gateway ends a connection with (4000-4999 is the range
/// RFC 6455 leaves to applications).
pub mod close {
    /// No `auth` frame within the time allowed, or another frame first.
    pub const UNAUTHENTICATED: u16 = 4001;
    /// The token did not verify (signature, expiry, issuer, audience, subject).
    pub const INVALID_TOKEN: u16 = 4003;
    /// The token expired while connected; reconnect with a fresh one.
    pub const TOKEN_EXPIRED: u16 = 4004;
    /// The client did not read fast enough: its send queue filled up.
    /// Reconnect and resume; nothing is lost.
    pub const TOO_SLOW: u16 = 4008;
    /// The gateway is shutting down (RFC 6455's "going away").
    pub const GOING_AWAY: u16 = 1001;
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame: who the client is. Sent again later with a fresh
    /// token (the same user's) it moves the expiry.
    Auth {
        /// The bearer token (a JWT).
        token: String,
    },
    /// Start receiving a conversation's messages and receipts.
    Subscribe {
        /// The conversation id.
        conversation: String,
        /// The last thing seen, to receive everything after it first.
        #[serde(default)]
        since: Option<Since>,
    },
    /// Stop receiving a conversation.
    Unsubscribe {
        /// The conversation id.
        conversation: String,
    },
    /// Send a message.
    Send {
        /// The conversation id.
        conversation: String,
        /// The client's id for this message, 1 to 100 printable ASCII
        /// characters: the idempotency key, so a resend is the same message.
        client_id: String,
        /// 1 to 4000 characters.
        body: String,
        /// The message this one answers.
        #[serde(default)]
        reply_to: Option<String>,
    },
    /// Change one of your messages.
    Edit {
        /// The conversation id.
        conversation: String,
        /// The message id.
        message: String,
        /// The new text.
        body: String,
        /// Echoed in the ack; also the idempotency key of the edit.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// Delete one of your messages.
    Delete {
        /// The conversation id.
        conversation: String,
        /// The message id.
        message: String,
        /// Echoed in the ack; also the idempotency key.
        #[serde(default)]
        client_id: Option<String>,
    },
    /// Start or stop typing in a subscribed conversation. Repeat `start`
    /// every few seconds while typing: an indicator not repeated expires.
    Typing {
        /// The conversation id.
        conversation: String,
        /// `start` or `stop`.
        state: TypingState,
    },
    /// Watch whether these users are online (replaces the list watched
    /// before; an empty list stops watching).
    Presence {
        /// User ids, at most [`MAX_WATCHED`].
        users: Vec<String>,
    },
    /// Mark the conversation read up to a message.
    Read {
        /// The conversation id.
        conversation: String,
        /// The last message read.
        up_to: String,
        /// Echoed in the ack; also the idempotency key.
        #[serde(default)]
        client_id: Option<String>,
    },
}

/// `start` or `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    /// Typing.
    Start,
    /// Not typing any more.
    Stop,
}

/// The most users one socket watches.
pub const MAX_WATCHED: usize = 100;

/// The frame types a client may send, for error messages and metrics.
pub const CLIENT_TYPES: [&str; 9] =
    ["auth", "subscribe", "unsubscribe", "send", "edit", "delete", "typing", "presence", "read"];

impl ClientFrame {
    /// Its `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Auth { .. } => "auth",
            Self::Subscribe { .. } => "subscribe",
            Self::Unsubscribe { .. } => "unsubscribe",
            Self::Send { .. } => "send",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::Read { .. } => "read",
        }
    }

    /// Parses a text frame; the error frame to answer when it is not one.
    pub fn parse(text: &str) -> Result<Self, Box<ServerFrame>> {
        serde_json::from_str(text).map_err(|e| {
            // Which of the three: not JSON, an unknown type, or a known type
            // with missing or wrong fields.
            let kind = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_owned)));
            Box::new(match kind {
                Some(kind) if !CLIENT_TYPES.contains(&kind.as_str()) => ServerFrame::error(
                    "unknown-type",
                    format!("unknown frame type; expected one of {}", CLIENT_TYPES.join(", ")),
                    None,
                ),
                Some(_) => ServerFrame::error("invalid-frame", e.to_string(), None),
                None => ServerFrame::error("malformed", "a frame is a JSON object with a \"type\" field", None),
            })
        })
    }
}

/// A position the client saw, with the epoch it was seen in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Since {
    /// `chat:<sequence>`, from a `message`, `receipt` or `ack` frame, or a
    /// message's `position` in the REST history.
    pub position: String,
    /// The epoch it came with.
    pub epoch: String,
}

/// What the gateway sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authenticated: frames other than `auth` are welcome now.
    Ready {
        /// The user the token names.
        user: String,
        /// The chat stream's epoch: positions are meaningful only with it.
        epoch: String,
    },
    /// A subscription is live: everything after `position` arrives in order.
    Subscribed {
        /// The conversation.
        conversation: String,
        /// What was delivered last (the stream's end for a fresh subscription).
        position: String,
        /// The epoch.
        epoch: String,
    },
    /// A subscription ended without being asked to (the user left).
    Unsubscribed {
        /// The conversation.
        conversation: String,
        /// Why: `left`.
        reason: String,
    },
    /// A message was sent, edited or deleted.
    Message {
        /// The conversation.
        conversation: String,
        /// The message id.
        message: String,
        /// `sent`, `edited` or `deleted`.
        change: &'static str,
        /// Who sent it (on `sent`).
        #[serde(skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
        /// The text (on `sent` and `edited`).
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// The message it answers (on `sent`, when it does).
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        /// When (RFC 3339).
        at: String,
        /// Where in the chat stream: resume after it.
        position: String,
        /// The epoch.
        epoch: String,
    },
    /// A member read the conversation up to a message.
    Receipt {
        /// The conversation.
        conversation: String,
        /// Who read.
        reader: String,
        /// The last message they read.
        up_to: String,
        /// When (RFC 3339).
        at: String,
        /// Where in the chat stream.
        position: String,
        /// The epoch.
        epoch: String,
    },
    /// Someone started or stopped typing (never your own socket's).
    Typing {
        /// The conversation.
        conversation: String,
        /// Who.
        user: String,
        /// `start` or `stop` (also sent when a `start` was not repeated in time).
        state: &'static str,
    },
    /// A watched user's presence: on a `presence` frame, then on every change.
    Presence {
        /// Who.
        user: String,
        /// Whether any of their devices is connected.
        online: bool,
        /// When they were last connected (RFC 3339), while offline; absent
        /// when never seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        last_seen: Option<String>,
    },
    /// An in-app notification for this user, live (the inbox holds them all).
    Notification {
        /// The notification id (mark it read over REST).
        notification: String,
        /// What happened: `new_follower`, `post_liked`, ...
        kind: String,
        /// Who did it, when someone did.
        #[serde(skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        /// For people.
        text: String,
        /// Where it leads.
        #[serde(skip_serializing_if = "Option::is_none")]
        link: Option<String>,
        /// When (RFC 3339).
        at: String,
    },
    /// A grouped notification changed: more people joined it (replace it in
    /// place; whether it is read does not change).
    NotificationUpdated {
        /// The notification id.
        notification: String,
        /// Who joined.
        actor: String,
        /// How many people it is about now.
        actors: u32,
        /// Its text now.
        text: String,
        /// When (RFC 3339).
        at: String,
    },
    /// The user read notifications, on this device or another: one
    /// (`notification`), or every one up to and including `up_to`.
    NotificationsRead {
        /// The one read.
        #[serde(skip_serializing_if = "Option::is_none")]
        notification: Option<String>,
        /// The newest of all read (ids are time-ordered).
        #[serde(skip_serializing_if = "Option::is_none")]
        up_to: Option<String>,
        /// When (RFC 3339).
        at: String,
    },
    /// A command frame was carried out: its event is in the log.
    Ack {
        /// The frame's `client_id`.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The message it concerned.
        message: String,
        /// Where its event is (for a resend: the first send's).
        position: String,
        /// The epoch.
        epoch: String,
        /// Whether this repeats an earlier frame with the same `client_id`.
        duplicate: bool,
    },
    /// A frame was refused; the connection stays open.
    Error {
        /// A stable name (docs/chat.md lists them).
        code: String,
        /// For people.
        detail: String,
        /// The refused frame's `client_id`, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// The positions the client holds no longer lead anywhere (another epoch,
    /// or history dropped by retention): reload the conversation over REST,
    /// then subscribe again.
    Resync {
        /// The conversation.
        conversation: String,
        /// `epoch`, `history-gone` or `too-far-behind`.
        reason: &'static str,
        /// The epoch now.
        epoch: String,
    },
}

impl ServerFrame {
    /// An error frame.
    pub fn error(code: &str, detail: impl Into<String>, client_id: Option<String>) -> Self {
        Self::Error { code: code.to_owned(), detail: detail.into(), client_id }
    }

    /// Its `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::Subscribed { .. } => "subscribed",
            Self::Unsubscribed { .. } => "unsubscribed",
            Self::Message { .. } => "message",
            Self::Receipt { .. } => "receipt",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::Notification { .. } => "notification",
            Self::NotificationUpdated { .. } => "notification_updated",
            Self::NotificationsRead { .. } => "notifications_read",
            Self::Ack { .. } => "ack",
            Self::Error { .. } => "error",
            Self::Resync { .. } => "resync",
        }
    }

    /// The frame as JSON text.
    pub fn to_text(&self) -> String {
        // Plain strings, numbers and booleans: nothing here can fail to encode.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code(text: &str) -> String {
        match *ClientFrame::parse(text).unwrap_err() {
            ServerFrame::Error { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_parse_by_type() {
        let frame = ClientFrame::parse(r#"{"type":"send","conversation":"c","client_id":"1","body":"hi"}"#).unwrap();
        assert_eq!(
            frame,
            ClientFrame::Send { conversation: "c".into(), client_id: "1".into(), body: "hi".into(), reply_to: None }
        );
        let since = r#"{"type":"subscribe","conversation":"c","since":{"position":"chat:4","epoch":"9"}}"#;
        assert!(matches!(ClientFrame::parse(since).unwrap(), ClientFrame::Subscribe { since: Some(_), .. }));
    }

    #[test]
    fn what_is_not_a_frame_gets_a_code_saying_why() {
        assert_eq!(code("not json"), "malformed");
        assert_eq!(code("[1,2]"), "malformed");
        assert_eq!(code(r#"{"type":7}"#), "malformed");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown-type");
        assert_eq!(code(r#"{"type":"send","conversation":"c"}"#), "invalid-frame");
    }

    #[test]
    fn server_frames_are_tagged_json() {
        let frame = ServerFrame::error("malformed", "no", None);
        assert_eq!(frame.to_text(), r#"{"type":"error","code":"malformed","detail":"no"}"#);
    }
}

//! Content context: posts, comments, likes, calendar events, RSVPs, moderation.
//!
//! Subjects: `content.post.<post>`, `content.comment.<comment>`,
//! `content.like.<post>.<user>` (one like per user and post, enforced by the
//! expected sequence of that subject) and `content.event.<event>` (RSVPs live on
//! the event's subject because capacity is a rule over all of them).
//! Reports, hiding and restoring live on the subject of the content they target.

use super::{Context, catalog};
use crate::ids::{CommentId, EventId, PostId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

catalog! {
    /// Events of the content context.
    ContentEvent, Context::Content, {
        PostCreated = 1,
        PostEdited = 1,
        PostDeleted = 1,
        CommentAdded = 1,
        CommentDeleted = 1,
        PostLiked = 1,
        PostUnliked = 1,
        EventCreated = 1,
        EventUpdated = 1,
        EventCancelled = 1,
        RsvpChanged = 1,
        ContentReported = 1,
        ContentHidden = 1,
        ContentRestored = 1,
    }
}

/// What a post says, with what was parsed out of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostBody {
    /// The text as written.
    pub text: String,
    /// https URLs of attached images or video.
    #[serde(default)]
    pub media: Vec<String>,
    /// Lowercased hashtags found in the text, without `#`.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Lowercased handles mentioned in the text, without `@`.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Words of the moderation list found in the text; flagged content is
    /// published but queued for a moderator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flagged: Vec<String>,
}

/// A user published a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostCreated {
    /// The new post.
    pub post: PostId,
    /// Who wrote it.
    pub author: UserId,
    /// What it says.
    pub body: PostBody,
}

/// The author changed a post's text or media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostEdited {
    /// The post.
    pub post: PostId,
    /// The body after the edit.
    pub body: PostBody,
}

/// The author deleted a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostDeleted {
    /// The post.
    pub post: PostId,
    /// Who deleted it.
    pub by: UserId,
}

/// A user commented on a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentAdded {
    /// The new comment.
    pub comment: CommentId,
    /// The post it belongs to.
    pub post: PostId,
    /// Who wrote it.
    pub author: UserId,
    /// The comment it answers, if any.
    pub reply_to: Option<CommentId>,
    /// What it says (`media` stays empty for comments).
    pub body: PostBody,
}

/// A comment was deleted by its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentDeleted {
    /// The comment.
    pub comment: CommentId,
    /// The post it belonged to.
    pub post: PostId,
    /// Who deleted it.
    pub by: UserId,
}

/// A user liked a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostLiked {
    /// The post.
    pub post: PostId,
    /// Who liked it.
    pub user: UserId,
    /// The post's author, so consumers need no lookup to credit them.
    pub author: UserId,
}

/// A user took back a like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostUnliked {
    /// The post.
    pub post: PostId,
    /// Who unliked it.
    pub user: UserId,
    /// The post's author.
    pub author: UserId,
}

/// The details of a calendar event, as they are after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetails {
    /// Short title.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// Where it happens (free text or URL).
    pub place: String,
    /// When it starts.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When it ends; after `starts_at`.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// Most people who can be `going`; `None` is unlimited.
    pub capacity: Option<u32>,
}

/// A user created a calendar event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCreated {
    /// The new event.
    pub event: EventId,
    /// Who organises it.
    pub organizer: UserId,
    /// What, where, when, how many.
    pub details: EventDetails,
}

/// The organiser changed an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventUpdated {
    /// The event.
    pub event: EventId,
    /// The details after the change.
    pub details: EventDetails,
}

/// The organiser cancelled an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCancelled {
    /// The event.
    pub event: EventId,
    /// Why, as told to attendees.
    pub reason: Option<String>,
}

/// A user's answer to an event invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rsvp {
    /// Takes a seat; refused when the event is full.
    Going,
    /// Interested, takes no seat.
    Interested,
    /// Not going.
    NotGoing,
}

/// A user answered or changed their answer to an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsvpChanged {
    /// The event.
    pub event: EventId,
    /// Who answered.
    pub user: UserId,
    /// The answer now.
    pub rsvp: Rsvp,
}

/// A post or comment, as the target of moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ContentRef {
    /// A post.
    Post(PostId),
    /// A comment.
    Comment(CommentId),
}

/// A user reported a post or comment to the moderators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentReported {
    /// What was reported.
    pub target: ContentRef,
    /// Who reported it.
    pub by: UserId,
    /// The reporter's reason.
    pub reason: String,
}

/// A moderator hid a post or comment from everyone but moderators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentHidden {
    /// What was hidden.
    pub target: ContentRef,
    /// The moderator.
    pub by: UserId,
    /// Why.
    pub reason: Option<String>,
}

/// A moderator made hidden content visible again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentRestored {
    /// What was restored.
    pub target: ContentRef,
    /// The moderator.
    pub by: UserId,
}

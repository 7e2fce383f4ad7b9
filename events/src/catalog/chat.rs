//! Chat context: direct and group conversations and their messages.
//!
//! Subjects: `chat.conversation.<conversation>` (membership),
//! `chat.message.<conversation>.<message>` (one message and its edits), and
//! `chat.read.<conversation>.<user>` (read position). Messages are not on the
//! conversation's subject, so loading membership never walks the history and
//! senders do not contend for one expected sequence.

use super::{Context, catalog};
use crate::ids::{ConversationId, MessageId, UserId};
use serde::{Deserialize, Serialize};

catalog! {
    /// Events of the chat context.
    ChatEvent, Context::Chat, {
        ConversationStarted = 1,
        MembersAdded = 1,
        MemberLeft = 1,
        MessageSent = 1,
        MessageEdited = 1,
        MessageDeleted = 1,
        MessagesRead = 3,
    }
}

/// Direct (exactly two people, one conversation per pair) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// Two people; its id is derived from the pair.
    Direct,
    /// Any number of members, with a title.
    Group,
}

/// A conversation began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationStarted {
    /// The new conversation.
    pub conversation: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// Who started it.
    pub started_by: UserId,
    /// Everyone in it, the starter included.
    pub members: Vec<UserId>,
    /// Group title; `None` for direct conversations.
    pub title: Option<String>,
}

/// A member added people to a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersAdded {
    /// The group.
    pub conversation: ConversationId,
    /// Who added them.
    pub by: UserId,
    /// Who joined.
    pub members: Vec<UserId>,
}

/// A member left a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLeft {
    /// The group.
    pub conversation: ConversationId,
    /// Who left.
    pub member: UserId,
}

/// A member sent a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSent {
    /// The conversation.
    pub conversation: ConversationId,
    /// The new message.
    pub message: MessageId,
    /// Who sent it.
    pub sender: UserId,
    /// The text.
    pub body: String,
    /// The message it answers, if any.
    pub reply_to: Option<MessageId>,
}

/// The sender changed a message's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEdited {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
    /// The text after the edit.
    pub body: String,
}

/// The sender deleted a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeleted {
    /// The conversation.
    pub conversation: ConversationId,
    /// The message.
    pub message: MessageId,
}

/// A member read a conversation up to and including a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRead {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who read.
    pub reader: UserId,
    /// The last message read.
    pub up_to: MessageId,
    /// Where that message was sent: the chat stream sequence of its
    /// `MessageSent`, so a later mark can be compared with this one. Always set
    /// since v2; `None` for marks written as v1, whose position is unknown.
    pub up_to_sequence: Option<u64>,
    /// Whether the reader keeps it to themselves: they had turned read
    /// receipts off when they read, so only their own devices hear of it
    /// (v3; earlier marks read as shared).
    pub private: bool,
}

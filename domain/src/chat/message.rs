//! One chat message: sent by a member, edited or deleted by its sender.

use crate::input::{self, InvalidInput};
use events::catalog::ChatEvent;
use events::catalog::chat::{MessageDeleted, MessageEdited, MessageSent};
use events::ids::{ConversationId, MessageId, UserId};

/// A message's text: 1 to 4000 characters. Only `parse` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks raw text (field `body`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        input::text("body", raw, 1, 4000, true).map(Self)
    }
}

/// What the rules need to know about a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Message {
    /// Never sent.
    #[default]
    Absent,
    /// Sent and not deleted.
    Sent {
        /// Where.
        conversation: ConversationId,
        /// Which.
        message: MessageId,
        /// By whom.
        sender: UserId,
    },
    /// Deleted by its sender.
    Deleted,
}

/// What a user asks of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageCommand {
    /// Send it.
    Send {
        /// Where.
        conversation: ConversationId,
        /// Its id.
        message: MessageId,
        /// The caller.
        sender: UserId,
        /// The text.
        body: MessageBody,
        /// The message it answers.
        reply_to: Option<MessageId>,
        /// Whether the caller is a member (an outside fact).
        is_member: bool,
        /// Whether, in a direct conversation, the other person blocks the
        /// caller (an outside fact).
        blocked: bool,
    },
    /// Change its text.
    Edit {
        /// The caller.
        by: UserId,
        /// The new text.
        body: MessageBody,
    },
    /// Delete it.
    Delete {
        /// The caller.
        by: UserId,
    },
}

/// Why a message command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageRejection {
    /// Only members write in a conversation.
    #[error("You are not a member of this conversation.")]
    NotAMember,
    /// The other person blocks the caller.
    #[error("This user has blocked you.")]
    Blocked,
    /// No such message.
    #[error("There is no such message.")]
    NoSuchMessage,
    /// It was deleted.
    #[error("This message was deleted.")]
    MessageDeleted,
    /// Only its sender changes a message.
    #[error("Only the sender can change this message.")]
    NotTheSender,
}

impl MessageRejection {
    /// A stable name for clients to branch on, the same over REST (a problem
    /// type) and over the chat socket (an error frame's code).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAMember => "not-a-member",
            Self::Blocked => "blocked",
            Self::NoSuchMessage => "no-such-message",
            Self::MessageDeleted => "message-deleted",
            Self::NotTheSender => "not-the-sender",
        }
    }
}

/// Decides a message command. Sending a message that was already sent by the
/// same sender (a retry) changes nothing.
pub fn decide(message: &Message, command: MessageCommand) -> Result<Vec<ChatEvent>, MessageRejection> {
    use MessageCommand as C;
    use MessageRejection as R;
    match (message, command) {
        (Message::Absent, C::Send { is_member: false, .. }) => Err(R::NotAMember),
        (Message::Absent, C::Send { blocked: true, .. }) => Err(R::Blocked),
        (Message::Absent, C::Send { conversation, message, sender, body, reply_to, .. }) => {
            Ok(vec![MessageSent { conversation, message, sender, body: body.0, reply_to }.into()])
        }
        (Message::Absent, _) => Err(R::NoSuchMessage),
        (Message::Deleted, _) => Err(R::MessageDeleted),
        (Message::Sent { sender, .. }, C::Send { sender: again, .. }) if *sender == again => Ok(vec![]),
        (Message::Sent { .. }, C::Send { .. }) => Err(R::NotTheSender),
        (Message::Sent { sender, .. }, C::Edit { by, .. } | C::Delete { by }) if by != *sender => Err(R::NotTheSender),
        (Message::Sent { conversation, message, .. }, C::Edit { body, .. }) => {
            Ok(vec![MessageEdited { conversation: *conversation, message: *message, body: body.0 }.into()])
        }
        (Message::Sent { conversation, message, .. }, C::Delete { .. }) => {
            Ok(vec![MessageDeleted { conversation: *conversation, message: *message }.into()])
        }
    }
}

/// Folds one event into the message.
pub fn evolve(message: Message, event: &ChatEvent) -> Message {
    match event {
        ChatEvent::MessageSent(e) => {
            Message::Sent { conversation: e.conversation, message: e.message, sender: e.sender.clone() }
        }
        ChatEvent::MessageDeleted(_) => Message::Deleted,
        _ => message,
    }
}

crate::decider::decider!(Message, MessageCommand, ChatEvent, MessageRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CONVERSATION: ConversationId = ConversationId(uuid::Uuid::from_u128(1));
    const MESSAGE: MessageId = MessageId(uuid::Uuid::from_u128(2));

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn body(text: &str) -> MessageBody {
        MessageBody::parse(text).unwrap()
    }

    fn send(sender: &str, is_member: bool, blocked: bool) -> MessageCommand {
        MessageCommand::Send {
            conversation: CONVERSATION,
            message: MESSAGE,
            sender: user(sender),
            body: body("hi"),
            reply_to: None,
            is_member,
            blocked,
        }
    }

    fn sent() -> Message {
        decide(&Message::Absent, send("ana", true, false)).unwrap().iter().fold(Message::Absent, evolve)
    }

    #[test]
    fn only_members_send_and_a_blocked_sender_cannot_message() {
        assert_eq!(decide(&Message::Absent, send("zed", false, false)), Err(MessageRejection::NotAMember));
        assert_eq!(decide(&Message::Absent, send("ben", true, true)), Err(MessageRejection::Blocked));
        assert_eq!(decide(&sent(), send("ana", true, false)), Ok(vec![]), "a retry changes nothing");
        assert_eq!(decide(&sent(), send("ben", true, false)), Err(MessageRejection::NotTheSender));
    }

    #[test]
    fn only_the_sender_edits_or_deletes_and_a_deleted_message_stays_deleted() {
        let edit = |by: &str| MessageCommand::Edit { by: user(by), body: body("edited") };
        assert_eq!(decide(&sent(), edit("ben")), Err(MessageRejection::NotTheSender));
        assert_eq!(decide(&sent(), edit("ana")).unwrap().len(), 1);
        let deleted = decide(&sent(), MessageCommand::Delete { by: user("ana") }).unwrap();
        let state = deleted.iter().fold(sent(), evolve);
        assert_eq!(decide(&state, edit("ana")), Err(MessageRejection::MessageDeleted));
        assert_eq!(decide(&Message::Absent, edit("ana")), Err(MessageRejection::NoSuchMessage));
    }

    #[test]
    fn a_message_body_is_bounded_and_clean() {
        assert_eq!(MessageBody::parse("").unwrap_err().field, "body");
        assert!(MessageBody::parse(&"x".repeat(4001)).is_err());
        assert!(MessageBody::parse("two\nlines").is_ok());
        assert!(MessageBody::parse("sneaky\u{202E}").is_err());
    }
}

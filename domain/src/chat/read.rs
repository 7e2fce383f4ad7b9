//! A member's read mark in a conversation: it only moves forward.

use events::catalog::ChatEvent;
use events::catalog::chat::MessagesRead;
use events::ids::{ConversationId, MessageId, UserId};

/// The last message a member has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadMark {
    /// `None` before the first mark.
    pub up_to: Option<MessageId>,
}

/// Why a read mark is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadRejection {
    /// Only members read a conversation.
    #[error("You are not a member of this conversation.")]
    NotAMember,
    /// The message is not in this conversation.
    #[error("There is no such message in this conversation.")]
    NoSuchMessage,
}

/// A member marks the conversation read up to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    /// The conversation.
    pub conversation: ConversationId,
    /// Who reads.
    pub reader: UserId,
    /// The last message read.
    pub up_to: MessageId,
    /// Whether the reader is a member.
    pub is_member: bool,
    /// Whether the message is in this conversation.
    pub message_exists: bool,
    /// Whether that message was sent after the current mark's.
    pub newer: bool,
}

/// Marks the conversation read up to a message. `newer` says whether that
/// message was sent after the current mark's (an outside fact: their places in
/// the log); an older or the same mark changes nothing.
pub fn decide(mark: &ReadMark, command: ReadCommand) -> Result<Vec<ChatEvent>, ReadRejection> {
    let ReadCommand { conversation, reader, up_to, is_member, message_exists, newer } = command;
    if !is_member {
        return Err(ReadRejection::NotAMember);
    }
    if !message_exists {
        return Err(ReadRejection::NoSuchMessage);
    }
    if mark.up_to == Some(up_to) || !newer {
        return Ok(vec![]);
    }
    Ok(vec![MessagesRead { conversation, reader, up_to }.into()])
}

/// Folds one event into the mark.
pub fn evolve(mark: ReadMark, event: &ChatEvent) -> ReadMark {
    match event {
        ChatEvent::MessagesRead(e) => ReadMark { up_to: Some(e.up_to) },
        _ => mark,
    }
}

crate::decider::decider!(ReadMark, ReadCommand, ChatEvent, ReadRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CONVERSATION: ConversationId = ConversationId(uuid::Uuid::from_u128(1));
    const FIRST: MessageId = MessageId(uuid::Uuid::from_u128(2));

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn read(up_to: MessageId, is_member: bool, message_exists: bool, newer: bool) -> ReadCommand {
        ReadCommand { conversation: CONVERSATION, reader: ana(), up_to, is_member, message_exists, newer }
    }

    #[test]
    fn a_read_mark_only_moves_forward_and_only_for_members() {
        let marked = decide(&ReadMark::default(), read(FIRST, true, true, true)).unwrap();
        let mark = marked.iter().fold(ReadMark::default(), evolve);
        assert_eq!(mark.up_to, Some(FIRST));
        assert_eq!(decide(&mark, read(FIRST, true, true, true)), Ok(vec![]));
        let older = MessageId(uuid::Uuid::from_u128(3));
        assert_eq!(decide(&mark, read(older, true, true, false)), Ok(vec![]));
        assert_eq!(decide(&mark, read(older, false, true, true)), Err(ReadRejection::NotAMember));
        assert_eq!(decide(&mark, read(older, true, false, true)), Err(ReadRejection::NoSuchMessage));
    }
}

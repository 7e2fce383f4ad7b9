//! A member's read mark in a conversation: it only moves forward, in log
//! order. The mark keeps where its message was sent, so `decide` compares
//! positions itself and a command decided again after a lost race cannot move
//! the mark back.

use events::catalog::ChatEvent;
use events::catalog::chat::MessagesRead;
use events::ids::{ConversationId, MessageId, UserId};

/// The last message a member has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadMark {
    /// `None` before the first mark.
    pub up_to: Option<MessageId>,
    /// Where `up_to` was sent (its chat stream sequence). `None` before the
    /// first mark, and for a mark written as `MessagesRead` v1, which did not
    /// record it.
    pub sequence: Option<u64>,
}

/// Mark a conversation read up to and including a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCommand {
    /// The conversation.
    pub conversation: ConversationId,
    /// The caller.
    pub reader: UserId,
    /// The last message read.
    pub up_to: MessageId,
    /// Where `up_to` was sent: the chat stream sequence of its `MessageSent`,
    /// or `None` when it is not a message of this conversation (an outside
    /// fact, looked up by the caller; it never changes once known).
    pub sent_at: Option<u64>,
    /// Whether the reader is a member (an outside fact).
    pub is_member: bool,
    /// Whether the reader has read receipts off (an outside fact: their
    /// settings): the mark is then theirs alone.
    pub private: bool,
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

impl ReadRejection {
    /// A stable name for clients to branch on (see `MessageRejection::code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAMember => "not-a-member",
            Self::NoSuchMessage => "no-such-message",
        }
    }
}

/// Marks the conversation read up to a message. A message sent at or before
/// the current mark's changes nothing: marks only move forward.
pub fn decide(mark: &ReadMark, command: ReadCommand) -> Result<Vec<ChatEvent>, ReadRejection> {
    let ReadCommand { conversation, reader, up_to, sent_at, is_member, private } = command;
    if !is_member {
        return Err(ReadRejection::NotAMember);
    }
    let Some(sent_at) = sent_at else {
        return Err(ReadRejection::NoSuchMessage);
    };
    if mark.up_to == Some(up_to) {
        return Ok(vec![]);
    }
    // A mark of unknown position (written as v1) counts as older than any
    // known one: the next mark replaces it, and from then on positions are
    // compared. At worst one mark moves back once; it can never stick there.
    if mark.sequence.is_some_and(|current| sent_at <= current) {
        return Ok(vec![]);
    }
    Ok(vec![MessagesRead { conversation, reader, up_to, up_to_sequence: Some(sent_at), private }.into()])
}

/// Folds one event into the mark.
pub fn evolve(mark: ReadMark, event: &ChatEvent) -> ReadMark {
    match event {
        ChatEvent::MessagesRead(e) => ReadMark { up_to: Some(e.up_to), sequence: e.up_to_sequence },
        _ => mark,
    }
}

crate::decider::decider!(ReadMark, ReadCommand, ChatEvent, ReadRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decider::given::Given;

    const CONVERSATION: ConversationId = ConversationId(uuid::Uuid::from_u128(1));
    const FIRST: MessageId = MessageId(uuid::Uuid::from_u128(2));
    const SECOND: MessageId = MessageId(uuid::Uuid::from_u128(3));

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn read(up_to: MessageId, sent_at: Option<u64>) -> ReadCommand {
        ReadCommand { conversation: CONVERSATION, reader: ana(), up_to, sent_at, is_member: true, private: false }
    }

    fn marked(up_to: MessageId, sequence: Option<u64>) -> ChatEvent {
        MessagesRead { conversation: CONVERSATION, reader: ana(), up_to, up_to_sequence: sequence, private: false }
            .into()
    }

    fn given(history: impl IntoIterator<Item = ChatEvent>) -> Given<ReadMark> {
        crate::decider::given::given(history)
    }

    #[test]
    fn a_first_mark_records_where_its_message_was_sent() {
        given([]).when(read(FIRST, Some(10))).then(marked(FIRST, Some(10)));
    }

    #[test]
    fn a_mark_moves_forward_to_a_later_message() {
        given([marked(FIRST, Some(10))]).when(read(SECOND, Some(11))).then(marked(SECOND, Some(11)));
    }

    #[test]
    fn an_earlier_or_the_same_message_leaves_the_mark_where_it_is() {
        given([marked(SECOND, Some(11))]).when(read(FIRST, Some(10))).then_nothing();
        given([marked(SECOND, Some(11))]).when(read(SECOND, Some(11))).then_nothing();
    }

    #[test]
    fn a_stale_mark_decided_again_after_a_lost_race_does_not_move_the_mark_back() {
        // Two tabs mark at once: the later message wins the append, and the
        // earlier one's command is decided again on the new state.
        let stale = read(FIRST, Some(10));
        given([]).when(stale.clone()).then(marked(FIRST, Some(10)));
        given([marked(SECOND, Some(11))]).when(stale).then_nothing();
    }

    #[test]
    fn a_mark_of_unknown_position_is_older_than_any_known_one() {
        given([marked(SECOND, None)]).when(read(FIRST, Some(10))).then(marked(FIRST, Some(10)));
        given([marked(SECOND, None)]).when(read(SECOND, Some(11))).then_nothing();
    }

    #[test]
    fn a_reader_with_receipts_off_marks_privately() {
        let private = ReadCommand { private: true, ..read(FIRST, Some(10)) };
        let kept = MessagesRead {
            conversation: CONVERSATION,
            reader: ana(),
            up_to: FIRST,
            up_to_sequence: Some(10),
            private: true,
        };
        given([]).when(private).then(ChatEvent::MessagesRead(kept));
    }

    #[test]
    fn only_members_mark_and_only_messages_of_the_conversation() {
        let stranger = ReadCommand { is_member: false, ..read(FIRST, Some(10)) };
        given([]).when(stranger).then_rejects(ReadRejection::NotAMember);
        given([]).when(read(FIRST, None)).then_rejects(ReadRejection::NoSuchMessage);
    }
}

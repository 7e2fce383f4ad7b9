//! Chat rules, shared by the command API and the chat gateway: who may start
//! a conversation with whom, membership, who may send, edit and delete
//! messages, and read marks.

pub mod conversation;
pub mod message;
pub mod read;

pub use conversation::{
    Conversation, ConversationCommand, ConversationRejection, GroupTitle, MAX_GROUP_MEMBERS, MAX_NAMED_MEMBERS,
    direct_conversation_id,
};
pub use message::{Message, MessageBody, MessageCommand, MessageRejection};
pub use read::{ReadCommand, ReadMark, ReadRejection};

//! The chat commands both the REST API and the chat gateway's socket send:
//! one load-decide-append path, so a message sent either way is checked by
//! the same rules (`domain::chat`) against the same facts.

use crate::{CommandContext, CommandError, Commands, Outcome, facts};
use domain::chat::{
    Conversation, Message, MessageBody, MessageCommand, MessageRejection, ReadCommand, ReadMark, ReadRejection,
};
use domain::users::User;
use events::catalog::ChatEvent;
use events::catalog::chat::ConversationKind;
use events::ids::{ConversationId, MessageId, UserId};
use events::{Aggregate, DomainEvent, Position, StoreError};

/// A message to send.
#[derive(Debug, Clone)]
pub struct Send {
    /// Where.
    pub conversation: ConversationId,
    /// Who sends it.
    pub sender: UserId,
    /// What it says.
    pub body: MessageBody,
    /// The message it answers.
    pub reply_to: Option<MessageId>,
}

/// Sends a message: members only, and in a direct conversation not to someone
/// who blocks the sender. The message's id derives from the context's
/// idempotency key when there is one, so a resend finds its first event.
pub async fn send(
    commands: &Commands,
    context: &CommandContext,
    send: Send,
) -> Result<(MessageId, Outcome), CommandError<MessageRejection>> {
    let Send { conversation: id, sender, body, reply_to } = send;
    let conversation = commands.current::<Conversation>(&Aggregate::conversation(id)).await?;
    let blocked = match &conversation {
        Conversation::Active { kind: ConversationKind::Direct, members, .. } => {
            match members.iter().find(|m| **m != sender) {
                Some(other) => facts::blocks(commands, other, &sender).await?,
                None => false,
            }
        }
        _ => false,
    };
    let message = MessageId(context.new_id("message", &id.to_string()));
    let is_member = conversation.is_member(&sender);
    let command = MessageCommand::Send { conversation: id, message, sender, body, reply_to, is_member, blocked };
    let outcome = commands.create::<Message>(context, &Aggregate::message(id, message), command).await?;
    Ok((message, outcome))
}

/// Changes a message's text (its sender only).
pub async fn edit(
    commands: &Commands,
    context: &CommandContext,
    (id, message): (ConversationId, MessageId),
    by: UserId,
    body: MessageBody,
) -> Result<Outcome, CommandError<MessageRejection>> {
    commands.execute::<Message>(context, &Aggregate::message(id, message), MessageCommand::Edit { by, body }).await
}

/// Deletes a message (its sender only).
pub async fn delete(
    commands: &Commands,
    context: &CommandContext,
    (id, message): (ConversationId, MessageId),
    by: UserId,
) -> Result<Outcome, CommandError<MessageRejection>> {
    commands.execute::<Message>(context, &Aggregate::message(id, message), MessageCommand::Delete { by }).await
}

/// Marks the conversation read by `reader` up to a message; marks only move
/// forward.
pub async fn mark_read(
    commands: &Commands,
    context: &CommandContext,
    (id, up_to): (ConversationId, MessageId),
    reader: UserId,
) -> Result<Outcome, CommandError<ReadRejection>> {
    let is_member = commands.current::<Conversation>(&Aggregate::conversation(id)).await?.is_member(&reader);
    let private = match facts::user(commands, &reader).await? {
        User::Registered { settings, .. } => !settings.read_receipts,
        User::Unregistered => false,
    };
    // Where the message was sent never changes, so it is looked up once; which
    // mark is newer is decided by `read::decide` on every retry.
    let sent_at = sent_at(commands, id, up_to).await?.map(|position| position.sequence);
    let aggregate = Aggregate::read(id, &reader);
    let command = ReadCommand { conversation: id, reader, up_to, sent_at, is_member, private };
    commands.execute::<ReadMark>(context, &aggregate, command).await
}

/// Where a message was sent in the log, if it is a message of this conversation.
async fn sent_at(commands: &Commands, id: ConversationId, message: MessageId) -> Result<Option<Position>, StoreError> {
    let first = commands.store().first(&Aggregate::message(id, message)).await?;
    Ok(first.and_then(|first| match &first.event {
        DomainEvent::Chat(ChatEvent::MessageSent(_)) => Some(first.position),
        _ => None,
    }))
}

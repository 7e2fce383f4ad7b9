//! The frames that are commands (send, edit, delete, read): parsed into
//! domain types, run through `commands::chat` (the REST API's own path), and
//! answered with an ack once the event is in the log, or an error frame.

use crate::Gateway;
use crate::protocol::{ClientFrame, ServerFrame};
use commands::{CommandContext, CommandError, Outcome, chat};
use domain::chat::{MessageBody, MessageRejection, ReadRejection};
use events::ids::{ConversationId, MessageId, UserId};
use events::{Metadata, StoreError};

/// Send, edit, delete, read from socket `connection`: run through
/// `commands::chat`, answered with an ack once the event is in the log, or an
/// error frame. `None` for frames that are not commands.
pub async fn answer(gateway: &Gateway, connection: u64, frame: ClientFrame, user: &UserId) -> Option<ServerFrame> {
    let commands = &gateway.inner.commands;
    let client_id = match &frame {
        ClientFrame::Send { client_id, .. } => Some(client_id.clone()),
        ClientFrame::Edit { client_id, .. }
        | ClientFrame::Delete { client_id, .. }
        | ClientFrame::Read { client_id, .. } => client_id.clone(),
        _ => None,
    };
    // A frame without a client_id still runs under a key, so an unknown
    // outcome can name the key a retry must carry.
    let made = client_id.is_none().then(commands::server_key);
    let context = match command_context(user, client_id.as_deref().or(made.as_deref())) {
        Ok(context) => context,
        Err(frame) => return Some(*frame),
    };
    let invalid = |code: &str, detail: String| Some(ServerFrame::error(code, detail, client_id.clone()));
    let done = match frame {
        ClientFrame::Send { conversation, body, reply_to, .. } => {
            let (conversation, body) = match (ConversationId::parse(&conversation), MessageBody::parse(&body)) {
                (Ok(c), Ok(b)) => (c, b),
                (Err(e), _) => return invalid("invalid-id", format!("conversation: {e}")),
                (_, Err(e)) => return invalid("invalid-body", e.to_string()),
            };
            let reply_to = match reply_to.as_deref().map(MessageId::parse).transpose() {
                Ok(reply_to) => reply_to,
                Err(e) => return invalid("invalid-id", format!("reply_to: {e}")),
            };
            let send = chat::Send { conversation, sender: user.clone(), body, reply_to };
            let sent = chat::send(commands, &context, send).await.map_err(refused);
            // A message sent ends the sender's typing, on every device.
            gateway.inner.typing.publish(conversation, user, false, connection).await;
            sent
        }
        ClientFrame::Edit { conversation, message, body, .. } => {
            let Some(ids) = ids(&conversation, &message) else {
                return invalid("invalid-id", "conversation or message is not an id".into());
            };
            let body = match MessageBody::parse(&body) {
                Ok(body) => body,
                Err(e) => return invalid("invalid-body", e.to_string()),
            };
            about(ids.1, chat::edit(commands, &context, ids, user.clone(), body).await)
        }
        ClientFrame::Delete { conversation, message, .. } => {
            let Some(ids) = ids(&conversation, &message) else {
                return invalid("invalid-id", "conversation or message is not an id".into());
            };
            about(ids.1, chat::delete(commands, &context, ids, user.clone()).await)
        }
        ClientFrame::Read { conversation, up_to, .. } => {
            let Some(ids) = ids(&conversation, &up_to) else {
                return invalid("invalid-id", "conversation or up_to is not an id".into());
            };
            about(ids.1, chat::mark_read(commands, &context, ids, user.clone()).await)
        }
        ClientFrame::Auth { .. }
        | ClientFrame::Subscribe { .. }
        | ClientFrame::Unsubscribe { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Presence { .. } => return None,
    };
    Some(match done {
        Ok((message, outcome)) => ServerFrame::Ack {
            client_id,
            message: message.to_string(),
            position: outcome.position.to_string(),
            epoch: gateway.epoch().to_owned(),
            duplicate: outcome.replayed,
        },
        Err((OUTCOME_UNKNOWN, detail)) => ServerFrame::error(OUTCOME_UNKNOWN, detail, client_id.or(made)),
        Err((code, detail)) => ServerFrame::error(code, detail, client_id),
    })
}

fn ids(conversation: &str, message: &str) -> Option<(ConversationId, MessageId)> {
    Some((ConversationId::parse(conversation).ok()?, MessageId::parse(message).ok()?))
}

/// The command's context: the user as actor, a new correlation id, and the
/// client id as the idempotency key, scoped to the user as the REST API
/// scopes `Idempotency-Key` (`commands::scoped_key`).
fn command_context(user: &UserId, client_id: Option<&str>) -> Result<CommandContext, Box<ServerFrame>> {
    let key = match client_id {
        None => None,
        Some(raw) => Some(commands::scoped_key(user.as_str(), raw).map_err(|rule| {
            Box::new(ServerFrame::error("invalid-client-id", format!("client_id {rule}"), Some(raw.to_owned())))
        })?),
    };
    Ok(CommandContext::new(Metadata::new(Some(user.clone())), key))
}

/// A rejection's stable name for error frames: the domain's `code()`.
trait Code: std::fmt::Display {
    fn code(&self) -> &'static str;
}

impl Code for MessageRejection {
    fn code(&self) -> &'static str {
        MessageRejection::code(self)
    }
}

impl Code for ReadRejection {
    fn code(&self) -> &'static str {
        ReadRejection::code(self)
    }
}

/// A command's outcome, under the message the ack names.
fn about<R: Code>(
    message: MessageId,
    done: Result<Outcome, CommandError<R>>,
) -> Result<(MessageId, Outcome), (&'static str, String)> {
    done.map(|outcome| (message, outcome)).map_err(refused)
}

/// An error frame's code and detail for a command that did not run.
fn refused<R: Code>(error: CommandError<R>) -> (&'static str, String) {
    match error {
        CommandError::Rejected(rejection) => (rejection.code(), rejection.to_string()),
        CommandError::KeyReused => ("client-id-reused", "this client_id was used for a different frame".into()),
        CommandError::Store(StoreError::Conflict { .. }) => ("retry", "a concurrent change won; send it again".into()),
        CommandError::Store(e @ StoreError::OutcomeUnknown(_)) => {
            tracing::warn!(error = %e, "a chat command's outcome is unknown");
            let detail = "the event log did not confirm it: it may be appended now, later or not at all; \
                          send the frame again with this client_id, which appends it at most once";
            (OUTCOME_UNKNOWN, detail.into())
        }
        CommandError::Store(e) => ("unavailable", unavailable_text(&e)),
    }
}

/// The error code of a command whose outcome is unknown.
const OUTCOME_UNKNOWN: &str = "outcome-unknown";

/// The error frame for a frame the event log could not serve (logged here).
pub fn unavailable(error: &StoreError, client_id: Option<String>) -> ServerFrame {
    ServerFrame::error("unavailable", unavailable_text(error), client_id)
}

fn unavailable_text(error: &StoreError) -> String {
    tracing::warn!(error = %error, "a chat frame failed on the event log");
    "the event log is unavailable; try again".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_command_is_answered_outcome_unknown_not_unavailable() {
        let unknown = CommandError::<MessageRejection>::Store(StoreError::OutcomeUnknown("ack timed out".into()));
        let (code, detail) = refused(unknown);
        assert_eq!(code, "outcome-unknown");
        assert!(detail.contains("client_id") && detail.contains("at most once"), "{detail}");
        assert!(!detail.contains("ack timed out"), "no internal text: {detail}");
        let down = CommandError::<MessageRejection>::Store(StoreError::Unavailable("down".into()));
        assert_eq!(refused(down).0, "unavailable");
    }
}

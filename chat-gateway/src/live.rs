//! The log as frames: one ordered tail per gateway reads every chat event as
//! it is appended and hands it to the hub (a resuming connection turns the
//! events it missed into the same frames), and another reads new
//! notifications for their recipients' sockets.

use crate::hub::{Audience, Hub};
use crate::metrics::GatewayMetrics;
use crate::protocol::ServerFrame;
use events::catalog::notifications::{Channel, NotificationGrouped};
use events::catalog::{ChatEvent, NotificationEvent};
use events::ids::{ConversationId, MessageId, UserId};
use events::{Context, DomainEvent, EventStore, Recorded, Start, Subscribe};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

/// What a chat event means to the sockets.
#[derive(Debug)]
pub enum Happened {
    /// A frame for a conversation's subscribers, those its audience includes.
    Frame(ConversationId, Box<ServerFrame>, Audience),
    /// A member left: their subscriptions end.
    Left(ConversationId, UserId),
    /// Nothing a subscriber sees (a conversation started, members added).
    Nothing,
}

/// The frame of one recorded chat event, with the epoch its position is in.
pub fn happened(recorded: &Recorded, epoch: &str) -> Happened {
    let DomainEvent::Chat(event) = &recorded.event else { return Happened::Nothing };
    let at = recorded.envelope.time.format(&Rfc3339).unwrap_or_default();
    let position = recorded.position.to_string();
    let epoch = epoch.to_owned();
    let message = |conversation: ConversationId, message: String, change, sender, body, reply_to| {
        let frame = ServerFrame::Message {
            conversation: conversation.to_string(),
            message,
            change,
            sender,
            body,
            reply_to,
            at: at.clone(),
            position: position.clone(),
            epoch: epoch.clone(),
        };
        Happened::Frame(conversation, Box::new(frame), Audience::Members)
    };
    match event {
        ChatEvent::MessageSent(e) => message(
            e.conversation,
            e.message.to_string(),
            "sent",
            Some(e.sender.to_string()),
            Some(e.body.clone()),
            e.reply_to.map(|r| r.to_string()),
        ),
        ChatEvent::MessageEdited(e) => {
            message(e.conversation, e.message.to_string(), "edited", None, Some(e.body.clone()), None)
        }
        ChatEvent::MessageDeleted(e) => message(e.conversation, e.message.to_string(), "deleted", None, None, None),
        ChatEvent::MessagesRead(e) => Happened::Frame(
            e.conversation,
            Box::new(ServerFrame::Receipt {
                conversation: e.conversation.to_string(),
                reader: e.reader.to_string(),
                up_to: e.up_to.to_string(),
                at,
                position,
                epoch,
            }),
            Audience::Receipt { reader: e.reader.clone(), private: e.private },
        ),
        ChatEvent::MemberLeft(e) => Happened::Left(e.conversation, e.member.clone()),
        ChatEvent::ConversationStarted(_) | ChatEvent::MembersAdded(_) => Happened::Nothing,
    }
}

/// The frames of events a resuming socket of `viewer` missed, each message's
/// text as it stands at the end of `missed`: a message edited later shows its
/// last text in every frame, one deleted later shows none, so no catch-up
/// replays what its author took back. (Live frames need no such care: each is
/// sent when its text is the current one.) Receipts others kept private are
/// left out; each comes with its reader, for the socket's block check.
pub fn as_they_stand(missed: &[Recorded], epoch: &str, viewer: &UserId) -> Vec<(ServerFrame, Option<UserId>)> {
    let mut latest: HashMap<MessageId, Option<&str>> = HashMap::new();
    for recorded in missed {
        match &recorded.event {
            DomainEvent::Chat(ChatEvent::MessageSent(e)) => latest.insert(e.message, Some(e.body.as_str())),
            DomainEvent::Chat(ChatEvent::MessageEdited(e)) => latest.insert(e.message, Some(e.body.as_str())),
            DomainEvent::Chat(ChatEvent::MessageDeleted(e)) => latest.insert(e.message, None),
            _ => None,
        };
    }
    let mut frames = Vec::with_capacity(missed.len());
    for recorded in missed {
        let Happened::Frame(_, mut frame, audience) = happened(recorded, epoch) else { continue };
        if !audience.includes(viewer) {
            continue;
        }
        if let ServerFrame::Message { message, body, .. } = frame.as_mut()
            && let Some(now) = MessageId::parse(message).ok().and_then(|id| latest.get(&id))
        {
            *body = now.map(str::to_owned);
        }
        let reader = match audience {
            Audience::Receipt { reader, .. } => Some(reader),
            Audience::Members => None,
        };
        frames.push((*frame, reader));
    }
    frames
}

/// The address patterns of everything a conversation's subscribers see.
pub fn conversation_patterns(conversation: ConversationId) -> Vec<String> {
    vec![format!("chat.message.{conversation}.*"), format!("chat.read.{conversation}.*")]
}

/// What one tail reads, and what it does with each event.
pub struct Tail {
    /// The stream.
    pub context: Context,
    /// Addresses inside it (`None`: all).
    pub filter: Option<String>,
    /// Hands an event to the hub.
    pub hand_out: fn(&Hub, &Recorded, &str),
}

impl Tail {
    /// Every chat event, to the conversations' subscribers.
    pub fn chat() -> Self {
        Self { context: Context::Chat, filter: None, hand_out: hand_out_chat }
    }

    /// New notifications, changes to grouped ones and read marks, to their
    /// recipients' sockets (the whole stream: those live on two subject
    /// families, notifications and inboxes).
    pub fn notifications() -> Self {
        Self { context: Context::Notifications, filter: None, hand_out: hand_out_notification }
    }
}

/// Reads a stream from now on into the hub until `stop`, starting over
/// after the last event it handed out when the tail fails. `live` says
/// whether the tail is reading (what `/ready` reports).
pub async fn run(
    log: EventStore,
    hub: Hub,
    what: Tail,
    epoch: String,
    metrics: GatewayMetrics,
    live: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut start = Start::New;
    let ack_wait = Duration::from_secs(30);
    while !*stop.borrow() {
        let subscribe = Subscribe { context: what.context, filter: what.filter.clone(), start, ack_wait };
        let mut tail = match log.tail(subscribe).await {
            Ok(tail) => tail,
            Err(e) => {
                tracing::warn!(error = %e, context = %what.context, "cannot tail a stream; trying again");
                live.store(false, Ordering::Relaxed);
                tokio::select! { _ = tokio::time::sleep(Duration::from_secs(1)) => continue, _ = stop.changed() => break }
            }
        };
        live.store(true, Ordering::Relaxed);
        loop {
            let delivery = tokio::select! { d = tail.next() => d, _ = stop.changed() => return };
            let delivery = match delivery {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, context = %what.context, "a stream's tail failed; resuming");
                    break;
                }
                None => break,
            };
            start = Start::At(delivery.sequence + 1);
            match delivery.recorded {
                Ok(recorded) => (what.hand_out)(&hub, &recorded, &epoch),
                Err(e) => {
                    metrics.undecodable.inc();
                    tracing::warn!(sequence = delivery.sequence, error = %e, "an event that cannot be read");
                }
            }
        }
        live.store(false, Ordering::Relaxed);
    }
}

fn hand_out_chat(hub: &Hub, recorded: &Recorded, epoch: &str) {
    match happened(recorded, epoch) {
        Happened::Frame(conversation, frame, audience) => {
            let text = frame.to_text().into();
            hub.deliver(conversation, recorded.position.sequence, text, recorded.envelope.time, &audience);
        }
        Happened::Left(conversation, user) => hub.left(conversation, &user),
        Happened::Nothing => {}
    }
}

/// What the recipient's sockets hear of the notifications stream: an in-app
/// notification (one that is email or push only is not theirs to see), a
/// group that grew, and read marks (so every device shows the same list and
/// badge). Deliveries and settings are not for sockets.
fn hand_out_notification(hub: &Hub, recorded: &Recorded, _epoch: &str) {
    let DomainEvent::Notifications(event) = &recorded.event else { return };
    let at = recorded.envelope.time.format(&Rfc3339).unwrap_or_default();
    let (recipient, frame, kind) = match event {
        NotificationEvent::NotificationCreated(created) if created.channels.contains(&Channel::InApp) => {
            let kind = serde_json::to_value(created.kind).ok().and_then(|k| k.as_str().map(str::to_owned));
            let frame = ServerFrame::Notification {
                notification: created.notification.to_string(),
                kind: kind.unwrap_or_default(),
                actor: created.actor.as_ref().map(ToString::to_string),
                text: created.text.clone(),
                link: created.link.clone(),
                at,
            };
            (&created.recipient, frame, "notification")
        }
        // A join written before joins named their recipient has no one to tell.
        NotificationEvent::NotificationGrouped(g @ NotificationGrouped { recipient: Some(recipient), .. }) => {
            let frame = ServerFrame::NotificationUpdated {
                notification: g.notification.to_string(),
                actor: g.actor.to_string(),
                actors: g.actors,
                text: g.text.clone(),
                at,
            };
            (recipient, frame, "notification_updated")
        }
        NotificationEvent::NotificationRead(read) => {
            let frame =
                ServerFrame::NotificationsRead { notification: Some(read.notification.to_string()), up_to: None, at };
            (&read.recipient, frame, "notifications_read")
        }
        NotificationEvent::NotificationsRead(read) => {
            let frame = ServerFrame::NotificationsRead { notification: None, up_to: Some(read.up_to.to_string()), at };
            (&read.recipient, frame, "notifications_read")
        }
        _ => return,
    };
    hub.tell_user(recipient, frame.to_text().into(), kind);
}

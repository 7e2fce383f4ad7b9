//! Typing indicators: ephemeral, over core NATS, never in the log.
//!
//! A socket's `typing` frame is published on `<namespace>.typing.<conversation>`.
//! Every gateway (the sender's included) hears it and tells its sockets
//! subscribed to the conversation, except the one it came from. Each gateway
//! keeps who is typing where with a deadline and says `stop` on its own when
//! a `start` is not repeated in time, so an indicator ends even when the
//! typist's socket or gateway is gone.

use crate::hub::Hub;
use crate::protocol::ServerFrame;
use events::ids::{ConversationId, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What gateways tell each other.
#[derive(Debug, Serialize, Deserialize)]
struct Signal {
    conversation: ConversationId,
    user: UserId,
    typing: bool,
    /// The gateway and socket it came from, so it is not echoed there.
    gateway: String,
    connection: u64,
}

/// Publishes a gateway's typing signals.
#[derive(Clone)]
pub struct Typing {
    client: async_nats::Client,
    namespace: String,
    gateway: String,
}

impl Typing {
    /// Signals of gateway `gateway` (a unique name) under `namespace`.
    pub fn new(client: async_nats::Client, namespace: &str, gateway: &str) -> Self {
        Self { client, namespace: namespace.to_owned(), gateway: gateway.to_owned() }
    }

    /// Tells every gateway that `user` started or stopped typing, from
    /// socket `connection`. Best effort, as typing is: a signal lost is an
    /// indicator that expires on its own.
    pub async fn publish(&self, conversation: ConversationId, user: &UserId, typing: bool, connection: u64) {
        let signal = Signal { conversation, user: user.clone(), typing, gateway: self.gateway.clone(), connection };
        let Ok(payload) = serde_json::to_vec(&signal) else { return };
        let subject = format!("{}.typing.{conversation}", self.namespace);
        if let Err(e) = self.client.publish(subject, payload.into()).await {
            tracing::debug!(error = %e, "a typing signal was not sent");
        }
    }

    /// Hears every gateway's signals and tells this gateway's sockets, until
    /// `stop`. A `start` not repeated within `ttl` ends with a `stop`.
    pub async fn run(self, hub: Hub, ttl: Duration, mut stop: watch::Receiver<bool>) {
        let subject = format!("{}.typing.*", self.namespace);
        let mut signals = match self.client.subscribe(subject).await {
            Ok(signals) => signals,
            Err(e) => return tracing::warn!(error = %e, "cannot hear typing signals"),
        };
        // Who types where, until when, and from which of this gateway's
        // sockets: the stop an expiry sends is not for the socket that typed.
        let mut typing: HashMap<(ConversationId, UserId), (Instant, Option<u64>)> = HashMap::new();
        let mut sweep = tokio::time::interval(ttl / 4);
        loop {
            tokio::select! {
                message = signals.next() => {
                    let Some(message) = message else { return };
                    let Ok(signal) = serde_json::from_slice::<Signal>(&message.payload) else { continue };
                    let from = (signal.gateway == self.gateway).then_some(signal.connection);
                    let key = (signal.conversation, signal.user);
                    let changed = if signal.typing {
                        typing.insert(key.clone(), (Instant::now() + ttl, from)).is_none()
                    } else {
                        typing.remove(&key).is_some()
                    };
                    if changed {
                        tell(&hub, &key, signal.typing, from);
                    }
                }
                _ = sweep.tick() => {
                    let now = Instant::now();
                    let expired: Vec<_> = typing.iter().filter(|(_, (until, _))| *until <= now).map(|(k, _)| k.clone()).collect();
                    for key in expired {
                        let from = typing.remove(&key).and_then(|(_, from)| from);
                        tell(&hub, &key, false, from);
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}

fn tell(hub: &Hub, (conversation, user): &(ConversationId, UserId), typing: bool, from: Option<u64>) {
    let frame = ServerFrame::Typing {
        conversation: conversation.to_string(),
        user: user.to_string(),
        state: if typing { "start" } else { "stop" },
    };
    hub.broadcast(*conversation, frame.to_text().into(), from);
}

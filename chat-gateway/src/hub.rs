//! Who, on this gateway, listens to which conversation, and the hand-off of
//! live frames to their connections. A frame is encoded once per event and
//! shared by every connection that receives it.
//!
//! A connection's queue is bounded. When it is full the connection is too
//! slow: it is cut (told through its `cut` signal), not waited for, so one
//! stalled client never holds up the others.

use axum::extract::ws::Utf8Bytes;
use events::ids::{ConversationId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc};

/// What the hub hands a connection.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A frame of a conversation's log at a stream sequence.
    Event {
        /// The conversation.
        conversation: ConversationId,
        /// Its stream sequence: a connection drops what it already delivered.
        sequence: u64,
        /// The encoded frame.
        text: Utf8Bytes,
        /// When the event was appended, for the delivery latency.
        appended: OffsetDateTime,
        /// The reader, when the frame is a read receipt: a socket whose user
        /// has a block with them does not get it.
        reader: Option<UserId>,
    },
    /// A frame that is not in the log (typing): delivered while subscribed,
    /// never replayed.
    Ephemeral {
        /// The conversation.
        conversation: ConversationId,
        /// The encoded frame.
        text: Utf8Bytes,
    },
    /// A frame for this socket alone, whatever it subscribed to (presence,
    /// notifications), with its type for the metrics.
    Direct(Utf8Bytes, &'static str),
    /// The user left the conversation: the subscription is over.
    Left(ConversationId),
}

/// Who of a conversation's subscribers hear of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every member subscribed (messages).
    Members,
    /// A read receipt: every member unless the reader keeps it private (read
    /// receipts off), when only the reader's own devices hear of it.
    Receipt {
        /// Who read.
        reader: UserId,
        /// Whether the reader keeps it to themselves.
        private: bool,
    },
}

impl Audience {
    /// Whether `user`'s sockets hear of it (blocks aside: each socket checks
    /// those for itself).
    pub fn includes(&self, user: &UserId) -> bool {
        match self {
            Audience::Members | Audience::Receipt { private: false, .. } => true,
            Audience::Receipt { reader, private: true } => reader == user,
        }
    }
}

/// One connection, as the hub sees it.
#[derive(Debug, Clone)]
pub struct Listener {
    /// The connection's number on this gateway.
    pub connection: u64,
    /// Its user.
    pub user: UserId,
    /// Its queue.
    pub queue: mpsc::Sender<Outgoing>,
    /// Raised when its queue overflowed.
    pub cut: Arc<Notify>,
}

/// The subscriptions of this gateway's connections, and its connections by
/// user.
#[derive(Debug, Default, Clone)]
pub struct Hub {
    listeners: Arc<RwLock<HashMap<ConversationId, Vec<Listener>>>>,
    users: Arc<RwLock<HashMap<UserId, Vec<Listener>>>>,
}

impl Hub {
    /// A connection of its user opened: frames for the user reach it.
    pub fn join(&self, listener: Listener) {
        let Ok(mut users) = self.users.write() else { return };
        users.entry(listener.user.clone()).or_default().push(listener);
    }

    /// A connection of `user` closed.
    pub fn part(&self, user: &UserId, connection: u64) {
        let Ok(mut users) = self.users.write() else { return };
        if let Some(list) = users.get_mut(user) {
            list.retain(|l| l.connection != connection);
            if list.is_empty() {
                users.remove(user);
            }
        }
    }

    /// Hands a frame (of type `kind`, for the metrics) to every connection
    /// of `user` on this gateway.
    pub fn tell_user(&self, user: &UserId, text: Utf8Bytes, kind: &'static str) {
        let Ok(users) = self.users.read() else { return };
        for listener in users.get(user).into_iter().flatten() {
            offer(listener, Outgoing::Direct(text.clone(), kind));
        }
    }

    /// Adds a connection to a conversation (once).
    pub fn subscribe(&self, conversation: ConversationId, listener: Listener) {
        let Ok(mut all) = self.listeners.write() else { return };
        let list = all.entry(conversation).or_default();
        if !list.iter().any(|l| l.connection == listener.connection) {
            list.push(listener);
        }
    }

    /// Removes a connection from a conversation.
    pub fn unsubscribe(&self, conversation: ConversationId, connection: u64) {
        self.retain(conversation, |l| l.connection != connection);
    }

    /// Removes a connection from every conversation it listens to.
    pub fn forget(&self, connection: u64, conversations: impl IntoIterator<Item = ConversationId>) {
        for conversation in conversations {
            self.unsubscribe(conversation, connection);
        }
    }

    /// Hands an event's frame to those of the conversation's listeners its
    /// audience includes.
    pub fn deliver(
        &self,
        conversation: ConversationId,
        sequence: u64,
        text: Utf8Bytes,
        appended: OffsetDateTime,
        audience: &Audience,
    ) {
        let reader = match audience {
            Audience::Members => None,
            Audience::Receipt { reader, .. } => Some(reader.clone()),
        };
        let item = Outgoing::Event { conversation, sequence, text, appended, reader };
        let Ok(all) = self.listeners.read() else { return };
        for listener in all.get(&conversation).into_iter().flatten().filter(|l| audience.includes(&l.user)) {
            offer(listener, item.clone());
        }
    }

    /// Hands a frame that is not in the log to the conversation's listeners,
    /// except connection `except` (the one it came from).
    pub fn broadcast(&self, conversation: ConversationId, text: Utf8Bytes, except: Option<u64>) {
        let item = Outgoing::Ephemeral { conversation, text };
        let Ok(all) = self.listeners.read() else { return };
        for listener in all.get(&conversation).into_iter().flatten().filter(|l| Some(l.connection) != except) {
            offer(listener, item.clone());
        }
    }

    /// Ends `user`'s subscriptions to a conversation they left, on every one
    /// of their connections.
    pub fn left(&self, conversation: ConversationId, user: &UserId) {
        let mut gone = Vec::new();
        self.retain(conversation, |l| {
            let stays = l.user != *user;
            if !stays {
                gone.push(l.clone());
            }
            stays
        });
        for listener in gone {
            offer(&listener, Outgoing::Left(conversation));
        }
    }

    /// How many subscriptions this gateway holds.
    pub fn subscriptions(&self) -> usize {
        self.listeners.read().map(|all| all.values().map(Vec::len).sum()).unwrap_or(0)
    }

    fn retain(&self, conversation: ConversationId, keep: impl FnMut(&Listener) -> bool) {
        let Ok(mut all) = self.listeners.write() else { return };
        if let Some(list) = all.get_mut(&conversation) {
            list.retain(keep);
            if list.is_empty() {
                all.remove(&conversation);
            }
        }
    }
}

fn offer(listener: &Listener, item: Outgoing) {
    if let Err(mpsc::error::TrySendError::Full(_)) = listener.queue.try_send(item) {
        listener.cut.notify_one();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn listener(connection: u64, user: &str, queue: mpsc::Sender<Outgoing>) -> Listener {
        Listener { connection, user: UserId::parse(user).unwrap(), queue, cut: Arc::new(Notify::new()) }
    }

    #[tokio::test]
    async fn a_connection_whose_queue_is_full_is_cut_and_the_others_still_receive() {
        let hub = Hub::default();
        let conversation = ConversationId(uuid_v7());
        let (slow_queue, _never_read) = mpsc::channel(1);
        let (fast_queue, mut fast) = mpsc::channel(8);
        let slow = listener(1, "ana", slow_queue);
        let cut = slow.cut.clone();
        hub.subscribe(conversation, slow);
        hub.subscribe(conversation, listener(2, "ben", fast_queue));
        for sequence in 1..=2 {
            hub.deliver(conversation, sequence, "{}".into(), OffsetDateTime::now_utc(), &Audience::Members);
        }
        tokio::time::timeout(std::time::Duration::from_secs(1), cut.notified()).await.expect("the slow one is cut");
        for expected in 1..=2 {
            let Some(Outgoing::Event { sequence, .. }) = fast.recv().await else { panic!("an event") };
            assert_eq!(sequence, expected);
        }
    }

    #[tokio::test]
    async fn leaving_ends_every_subscription_of_that_user_and_only_theirs() {
        let hub = Hub::default();
        let conversation = ConversationId(uuid_v7());
        let (phone, mut phone_rx) = mpsc::channel(4);
        let (laptop, mut laptop_rx) = mpsc::channel(4);
        let (other, _other_rx) = mpsc::channel(4);
        hub.subscribe(conversation, listener(1, "cy", phone));
        hub.subscribe(conversation, listener(2, "cy", laptop));
        hub.subscribe(conversation, listener(3, "ana", other));
        hub.left(conversation, &UserId::parse("cy").unwrap());
        assert!(matches!(phone_rx.recv().await, Some(Outgoing::Left(_))));
        assert!(matches!(laptop_rx.recv().await, Some(Outgoing::Left(_))));
        assert_eq!(hub.subscriptions(), 1);
    }

    #[tokio::test]
    async fn a_private_receipt_reaches_the_readers_own_sockets_only() {
        let hub = Hub::default();
        let conversation = ConversationId(uuid_v7());
        let (phone, mut phone_rx) = mpsc::channel(4);
        let (other, mut other_rx) = mpsc::channel(4);
        hub.subscribe(conversation, listener(1, "cy", phone));
        hub.subscribe(conversation, listener(2, "ana", other));
        let private = Audience::Receipt { reader: UserId::parse("cy").unwrap(), private: true };
        hub.deliver(conversation, 1, "{}".into(), OffsetDateTime::now_utc(), &private);
        let shared = Audience::Receipt { reader: UserId::parse("cy").unwrap(), private: false };
        hub.deliver(conversation, 2, "{}".into(), OffsetDateTime::now_utc(), &shared);
        assert!(matches!(phone_rx.recv().await, Some(Outgoing::Event { sequence: 1, .. })));
        assert!(matches!(phone_rx.recv().await, Some(Outgoing::Event { sequence: 2, .. })));
        let Some(Outgoing::Event { sequence, reader, .. }) = other_rx.recv().await else { panic!("an event") };
        assert_eq!((sequence, reader.unwrap().as_str()), (2, "cy"), "the shared one only, naming its reader");
    }

    fn uuid_v7() -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

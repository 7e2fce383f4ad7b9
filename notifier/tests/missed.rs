//! Messages while away, against a real NATS JetStream, a real SQLite read
//! store and a real Redis (presence as the chat gateway writes it): told once
//! per window to members who neither read nor were online.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::catalog::chat::{ConversationKind, ConversationStarted, MemberLeft, MessageSent, MessagesRead};
use events::catalog::notifications::{NotificationCreated, NotificationKind};
use events::catalog::{DomainEvent, NotificationEvent};
use events::ids::{ConversationId, MessageId, UserId};
use events::{Aggregate, Context, EventStore, Expected, Metadata, Recorded};
use notifier::MissedMessages;
use testkit::TestLog;
use time::{Duration, OffsetDateTime};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

async fn record(log: &EventStore, aggregate: Aggregate, event: impl Into<DomainEvent>) -> Recorded {
    let appended = log.append(&aggregate, Expected::Any, event, &Metadata::new(None), None).await.unwrap();
    log.get(appended.position).await.unwrap().unwrap()
}

async fn notifications(log: &EventStore) -> Vec<NotificationCreated> {
    let patterns = ["notifications.notification.*".to_owned()];
    let backlog = log.read_after(Context::Notifications, &patterns, 0, 1_000).await.unwrap();
    (backlog.events.into_iter())
        .filter_map(|r| match r.event {
            DomainEvent::Notifications(NotificationEvent::NotificationCreated(created)) => Some(created),
            _ => None,
        })
        .collect()
}

struct Chat {
    log: TestLog,
    missed: MissedMessages,
    redis: redis::aio::ConnectionManager,
    group: ConversationId,
}

impl Chat {
    async fn start(members: &[&str]) -> Self {
        let log = TestLog::new().await;
        let store = read_store::AnyStore::from(read_store::SqliteStore::in_memory().unwrap());
        let redis = redis::Client::open(testkit::redis::redis_url()).unwrap().get_connection_manager().await.unwrap();
        let commands = commands::Commands::new(log.store.clone(), commands::Settings::default());
        let namespace = log.namespace.as_str().to_owned();
        let missed =
            MissedMessages::new(commands, store, redis.clone(), &namespace, Duration::minutes(1)).await.unwrap();
        let group = ConversationId(uuid::Uuid::now_v7());
        let started = ConversationStarted {
            conversation: group,
            kind: ConversationKind::Group,
            started_by: user(members[0]),
            members: members.iter().map(|m| user(m)).collect(),
            title: Some("Study".into()),
        };
        record(&log.store, Aggregate::conversation(group), started).await;
        Self { log, missed, redis, group }
    }

    /// A message, handed to the reactor; its chat stream sequence.
    async fn send(&self, sender: &str) -> (MessageId, u64) {
        let message = MessageId(uuid::Uuid::now_v7());
        let sent =
            MessageSent { conversation: self.group, message, sender: user(sender), body: "hi".into(), reply_to: None };
        let recorded = record(&self.log.store, Aggregate::message(self.group, message), sent).await;
        self.missed.run(&recorded).await.unwrap();
        (message, recorded.position.sequence)
    }

    /// A socket of `who` open, as the chat gateway records it.
    async fn online(&mut self, who: &str) {
        let key = presence::sockets_key(self.log.namespace.as_str(), &user(who));
        let lapses = OffsetDateTime::now_utc().unix_timestamp() * 1000 + 600_000;
        let _: () = redis::cmd("ZADD").arg(&key).arg(lapses).arg("gw:1").query_async(&mut self.redis).await.unwrap();
    }

    /// Fires what is due well after every message so far.
    async fn later(&self) -> usize {
        self.missed.fire_due(OffsetDateTime::now_utc() + Duration::minutes(3)).await.unwrap()
    }
}

#[tokio::test]
async fn an_absent_member_hears_once_per_window_and_never_the_sender() {
    let chat = Chat::start(&["ana", "ben"]).await;
    chat.send("ana").await;
    chat.send("ana").await;

    assert_eq!(chat.missed.fire_due(OffsetDateTime::now_utc()).await.unwrap(), 0, "not yet due");
    assert_eq!(chat.later().await, 1, "one window for ben, none for ana");
    assert_eq!(chat.later().await, 0);

    let found = notifications(&chat.log.store).await;
    let [told] = found.as_slice() else { panic!("{found:?}") };
    assert_eq!((told.recipient.as_str(), told.kind), ("ben", NotificationKind::MessageReceived));
    assert_eq!(told.actor, Some(user("ana")));
    assert_eq!(told.link.as_deref(), Some(format!("/conversations/{}", chat.group).as_str()));
}

#[tokio::test]
async fn reading_being_online_or_leaving_before_it_is_due_silences_it() {
    let mut chat = Chat::start(&["ana", "ben", "cy", "dee"]).await;
    let (message, sequence) = chat.send("ana").await;
    let read = MessagesRead {
        conversation: chat.group,
        reader: user("ben"),
        up_to: message,
        up_to_sequence: Some(sequence),
        private: false,
    };
    record(&chat.log.store, Aggregate::read(chat.group, &user("ben")), read).await;
    chat.online("cy").await;
    let left = MemberLeft { conversation: chat.group, member: user("dee") };
    record(&chat.log.store, Aggregate::conversation(chat.group), left).await;

    assert_eq!(chat.later().await, 3, "ben's, cy's and dee's windows fell due");
    assert!(notifications(&chat.log.store).await.is_empty(), "ben read it, cy is online, dee left");
    testkit::redis::forget_namespace(chat.log.namespace.as_str()).await;
}

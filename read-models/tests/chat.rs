//! The chat projection on both real stores, SQLite and MongoDB: conversation
//! lists by latest activity with unread counts, histories for members only,
//! and that replaying the history, whole or from the middle, changes nothing.

#![allow(clippy::unwrap_used)]

use events::catalog::DomainEvent;
use events::catalog::chat::{
    ConversationKind, ConversationStarted, MemberLeft, MembersAdded, MessageDeleted, MessageEdited, MessageSent,
    MessagesRead,
};
use events::ids::{ConversationId, MessageId, UserId};
use read_models::Generation;
use read_models::chat::{Chat, ChatQueries};
use read_store::{AnyStore, ReadStore};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn users(ids: &[&str]) -> Vec<UserId> {
    ids.iter().map(|id| user(id)).collect()
}

fn started(conversation: ConversationId, kind: ConversationKind, members: &[&str]) -> DomainEvent {
    let title = matches!(kind, ConversationKind::Group).then(|| "Study group".to_owned());
    ConversationStarted { conversation, kind, started_by: user(members[0]), members: users(members), title }.into()
}

fn sent(conversation: ConversationId, message: MessageId, sender: &str, body: &str) -> DomainEvent {
    MessageSent { conversation, message, sender: user(sender), body: body.into(), reply_to: None }.into()
}

fn read(conversation: ConversationId, reader: &str, up_to: MessageId, sequence: u64) -> DomainEvent {
    MessagesRead { conversation, reader: user(reader), up_to, up_to_sequence: Some(sequence), private: false }.into()
}

/// Applies the events as the engine does, numbered 1, 2, ... in the chat stream.
async fn apply(store: &AnyStore, history: &[DomainEvent]) {
    testkit::read_stores::apply_history(store, &[&Chat], history).await;
}

testkit::on_both_stores!(
    the_list_is_latest_activity_first_with_the_last_message_and_unread_from_others,
    a_history_is_newest_first_pages_and_shows_deleted_messages_without_text,
    only_current_members_see_a_conversation,
    a_v1_read_mark_without_a_position_counts_from_the_message_read,
    replaying_the_whole_history_or_any_suffix_changes_nothing,
);

async fn ready(store: AnyStore) -> AnyStore {
    store.ensure(&Generation::FIRST.collections(&Chat)).await.unwrap();
    store
}

/// Ana and Ben talk directly; Ana, Ben and Cy in a group that Cy leaves and
/// Dee joins. Sequences are the positions in this list, from 1.
struct Story {
    direct: ConversationId,
    group: ConversationId,
    messages: Vec<MessageId>,
    events: Vec<DomainEvent>,
}

fn story() -> Story {
    let (direct, group) = (ConversationId::new(), ConversationId::new());
    let m: Vec<MessageId> = (0..6).map(|_| MessageId::new()).collect();
    let events = vec![
        started(direct, ConversationKind::Direct, &["ana", "ben"]), // 1
        started(group, ConversationKind::Group, &["ana", "ben", "cy"]), // 2
        sent(direct, m[0], "ben", "hi ana"),                        // 3
        sent(direct, m[1], "ben", "are you there?"),                // 4
        sent(group, m[2], "ana", "welcome"),                        // 5
        read(direct, "ana", m[0], 3),                               // 6
        sent(direct, m[3], "ana", "yes"),                           // 7
        sent(direct, m[4], "ben", "typo"),                          // 8
        MessageDeleted { conversation: direct, message: m[4] }.into(), // 9
        MessageEdited { conversation: direct, message: m[3], body: "yes!".into() }.into(), // 10
        MemberLeft { conversation: group, member: user("cy") }.into(), // 11
        MembersAdded { conversation: group, by: user("ana"), members: users(&["dee"]) }.into(), // 12
        sent(group, m[5], "ben", "hello dee"),                      // 13
    ];
    Story { direct, group, messages: m, events }
}

async fn snapshot(store: &AnyStore) -> Vec<((String, String), read_store::Document)> {
    read_models::snapshot(store, &Chat, Generation::FIRST).await.unwrap().into_iter().collect()
}

async fn the_list_is_latest_activity_first_with_the_last_message_and_unread_from_others<
    F: Future<Output = AnyStore>,
>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = ChatQueries::new(&store, Generation::FIRST);

    let ana = queries.conversations("ana", 20, None).await.unwrap();
    let ids: Vec<_> = ana.items.iter().map(|c| c.conversation.clone()).collect();
    assert_eq!(ids, [s.group.to_string(), s.direct.to_string()], "the group spoke last");
    let (group, direct) = (&ana.items[0], &ana.items[1]);
    assert_eq!((group.kind.as_str(), group.title.as_deref(), group.members), ("group", Some("Study group"), 3));
    assert_eq!(group.last_message.as_ref().unwrap().excerpt.as_deref(), Some("hello dee"));
    assert_eq!(group.unread, 1, "ben's message; her own does not count");
    // Read up to m0: m1 from ben is unread; m3 is hers; m4 is deleted.
    assert_eq!((direct.unread, direct.unread_more), (1, false));
    let last = direct.last_message.as_ref().unwrap();
    assert_eq!(
        (last.message.as_str(), last.deleted, last.excerpt.as_deref()),
        (s.messages[4].to_string().as_str(), true, None)
    );

    let ben = queries.conversations("ben", 20, None).await.unwrap();
    let unread: Vec<_> = ben.items.iter().map(|c| c.unread).collect();
    assert_eq!(unread, [1, 1], "welcome in the group, yes! in the direct one");

    let first = queries.conversations("ana", 1, None).await.unwrap();
    assert_eq!(first.items[0].conversation, s.group.to_string());
    let second = queries.conversations("ana", 1, first.next).await.unwrap();
    assert_eq!(second.items[0].conversation, s.direct.to_string());
    assert_eq!(second.next, None);
}

async fn a_history_is_newest_first_pages_and_shows_deleted_messages_without_text<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = ChatQueries::new(&store, Generation::FIRST);
    let direct = s.direct.to_string();

    let page = queries.history(&direct, "ana", 2, None).await.unwrap().unwrap();
    let ids: Vec<_> = page.items.iter().map(|m| m.message.clone()).collect();
    assert_eq!(ids, [s.messages[4].to_string(), s.messages[3].to_string()]);
    assert!(page.items[0].deleted && page.items[0].text.is_none());
    assert_eq!((page.items[1].text.as_deref(), page.items[1].edited), (Some("yes!"), true));

    let rest = queries.history(&direct, "ana", 2, page.next).await.unwrap().unwrap();
    let texts: Vec<_> = rest.items.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(texts, ["are you there?", "hi ana"]);
    assert_eq!(rest.next, None);
}

async fn only_current_members_see_a_conversation<F: Future<Output = AnyStore>>(fresh: impl Fn() -> F) {
    let store = ready(fresh().await).await;
    let s = story();
    apply(&store, &s.events).await;
    let queries = ChatQueries::new(&store, Generation::FIRST);
    let (direct, group) = (s.direct.to_string(), s.group.to_string());

    assert!(queries.history(&direct, "cy", 20, None).await.unwrap().is_none(), "never a member");
    assert!(queries.history(&group, "cy", 20, None).await.unwrap().is_none(), "left");
    assert!(queries.conversations("cy", 20, None).await.unwrap().items.is_empty());
    let dee = queries.conversations("dee", 20, None).await.unwrap();
    assert_eq!(dee.items.len(), 1);
    assert_eq!(dee.items[0].unread, 2, "a member added later sees the history");
}

async fn a_v1_read_mark_without_a_position_counts_from_the_message_read<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let store = ready(fresh().await).await;
    let id = ConversationId::new();
    let m: Vec<MessageId> = (0..3).map(|_| MessageId::new()).collect();
    apply(
        &store,
        &[
            started(id, ConversationKind::Direct, &["ana", "ben"]),
            sent(id, m[0], "ben", "one"),
            sent(id, m[1], "ben", "two"),
            sent(id, m[2], "ben", "three"),
            MessagesRead { conversation: id, reader: user("ana"), up_to: m[1], up_to_sequence: None, private: false }
                .into(),
        ],
    )
    .await;

    let ana = ChatQueries::new(&store, Generation::FIRST).conversations("ana", 20, None).await.unwrap();
    assert_eq!(ana.items[0].unread, 1, "only three, after two");
}

async fn replaying_the_whole_history_or_any_suffix_changes_nothing<F: Future<Output = AnyStore>>(
    fresh: impl Fn() -> F,
) {
    let history = story().events;
    let once = ready(fresh().await).await;
    apply(&once, &history).await;
    let expected = snapshot(&once).await;

    let replayed = ready(fresh().await).await;
    apply(&replayed, &history).await;
    apply(&replayed, &history).await;
    assert_eq!(snapshot(&replayed).await, expected);
    for from in 1..history.len() {
        let partial = ready(fresh().await).await;
        apply(&partial, &history[..from]).await;
        apply(&partial, &history).await;
        assert_eq!(snapshot(&partial).await, expected, "after a crash following event {from}");
    }
}

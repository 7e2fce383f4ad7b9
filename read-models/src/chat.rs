//! Chat: each user's conversation list (latest activity first, with the last
//! message and an unread count) and each conversation's message history.
//!
//! Collections: `conversations` (one per conversation: kind, title, who
//! started it, its last activity and last message id), `memberships` (id
//! `conversation:user`, one per member ever added: when they joined, whether
//! they left, how far they read) and `messages` (one per message).
//!
//! Why the list is a join at query time: `MessageSent` names the
//! conversation and the sender, not the members, and a projection never
//! reads while it applies, so a message cannot touch every member's
//! membership document. What a message changes lives where the event can
//! reach it: the message document and the conversation's `last_seq` and
//! `last_message` (one write each). A user's list reads their memberships,
//! then each conversation's activity, and sorts by it: the cost grows with
//! the number of conversations a user is in, and nothing in it can drift.
//!
//! Why unread is counted at query time: a counter per membership cannot be
//! moved by a message (same reason), and a count "at the time of the read"
//! cannot be taken without a read. The membership keeps the position of the
//! last message read (`read_up_to`, the chat stream sequence `MessagesRead`
//! v2 carries); unread is the messages of the conversation after that
//! position, not sent by the user and not deleted, counted from one page
//! of the history ([`UNREAD_SCAN`]); beyond it the count says "at least".
//! Every field is set from the event alone, so replay writes the same values.
//! Ids are UUIDs and hold no `:`, so the pair ids are unique.

use crate::projection::{Event, Generation, Projection};
use events::catalog::chat::{ChatEvent, ConversationKind, ConversationStarted, MessageSent, MessagesRead};
use events::catalog::{Context, DomainEvent};
use events::ids::{ConversationId, UserId};
use read_store::cursor;
use read_store::{Collection, Direction, Document, Filter, IfMissing, Query, ReadStore, ReadStoreError, Update, Write};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

const CONVERSATIONS: &str = "conversations";
const MEMBERSHIPS: &str = "memberships";
const MESSAGES: &str = "messages";

/// How many messages after the read position one unread count looks at.
pub const UNREAD_SCAN: u32 = 100;
/// The longest excerpt of the last message in a conversation list, in chars.
pub const EXCERPT_CHARS: usize = 100;

/// The chat projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chat;

impl Projection for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn contexts(&self) -> &'static [Context] {
        &[Context::Chat]
    }

    fn collections(&self) -> Vec<Collection> {
        vec![
            Collection::new(CONVERSATIONS).index(&["last_seq"]),
            Collection::new(MEMBERSHIPS).index(&["user", "left", "joined"]).index(&["conversation", "joined"]),
            Collection::new(MESSAGES).index(&["conversation", "seq"]),
        ]
    }

    fn apply(&self, event: Event<'_>) -> Vec<Write> {
        match event.event {
            DomainEvent::Chat(e) => chat_event(e, event),
            _ => Vec::new(),
        }
    }
}

fn chat_event(e: &ChatEvent, at: Event<'_>) -> Vec<Write> {
    match e {
        ChatEvent::ConversationStarted(s) => started(s, at),
        ChatEvent::MembersAdded(a) => {
            let mut writes = joined(&a.conversation, &a.members, at);
            writes.push(conversation(&a.conversation, vec![Update::Increment("members".into(), count(&a.members))]));
            writes
        }
        ChatEvent::MemberLeft(l) => vec![
            membership(&l.conversation, &l.member, vec![Update::Set("left".into(), json!(true))]),
            conversation(&l.conversation, vec![Update::Increment("members".into(), -1)]),
        ],
        ChatEvent::MessageSent(m) => sent(m, at),
        ChatEvent::MessageEdited(m) => {
            let updates = vec![Update::Set("text".into(), json!(m.body)), Update::Set("edited".into(), json!(true))];
            vec![Write::update(MESSAGES, &m.message.to_string(), updates, IfMissing::Skip)]
        }
        // The text goes with the message: a deleted message keeps its place only.
        ChatEvent::MessageDeleted(m) => {
            let updates = vec![Update::Set("text".into(), Value::Null), Update::Set("deleted".into(), json!(true))];
            vec![Write::update(MESSAGES, &m.message.to_string(), updates, IfMissing::Skip)]
        }
        ChatEvent::MessagesRead(r) => vec![read(r)],
    }
}

fn started(s: &ConversationStarted, at: Event<'_>) -> Vec<Write> {
    let kind = match s.kind {
        ConversationKind::Direct => "direct",
        ConversationKind::Group => "group",
    };
    let fields = [
        ("kind", json!(kind)),
        ("title", json!(s.title)),
        ("started_by", json!(s.started_by)),
        ("created", json!(timestamp(at.time))),
        ("last_seq", json!(at.sequence)),
        ("members", json!(count(&s.members))),
    ];
    let updates = fields.into_iter().map(|(field, value)| Update::Set(field.into(), value)).collect();
    let mut writes = joined(&s.conversation, &s.members, at);
    writes.push(conversation(&s.conversation, updates));
    writes
}

/// One membership per member, (re)joined at this event: set, not put, so a
/// member added back keeps their read position.
fn joined(id: &ConversationId, members: &[UserId], at: Event<'_>) -> Vec<Write> {
    members
        .iter()
        .map(|member| {
            let updates = vec![
                Update::Set("conversation".into(), json!(id.to_string())),
                Update::Set("user".into(), json!(member.as_str())),
                Update::Set("joined".into(), json!(at.sequence)),
                Update::Set("left".into(), json!(false)),
            ];
            membership(id, member, updates)
        })
        .collect()
}

fn sent(m: &MessageSent, at: Event<'_>) -> Vec<Write> {
    let message = m.message.to_string();
    let doc = json!({
        "conversation": m.conversation.to_string(),
        "author": m.sender.as_str(),
        "text": m.body,
        "reply_to": m.reply_to.map(|r| r.to_string()),
        "created": timestamp(at.time),
        "seq": at.sequence,
        "edited": false,
        "deleted": false,
    });
    let activity =
        vec![Update::Set("last_seq".into(), json!(at.sequence)), Update::Set("last_message".into(), json!(message))];
    vec![Write::put(MESSAGES, &message, object(doc)), conversation(&m.conversation, activity)]
}

/// A v1 mark has no position: the message id is kept and the query looks its
/// position up.
fn read(r: &MessagesRead) -> Write {
    let mut updates = vec![Update::Set("read_message".into(), json!(r.up_to.to_string()))];
    if let Some(sequence) = r.up_to_sequence {
        updates.push(Update::Set("read_up_to".into(), json!(sequence)));
    }
    membership(&r.conversation, &r.reader, updates)
}

fn conversation(id: &ConversationId, updates: Vec<Update>) -> Write {
    Write::update(CONVERSATIONS, &id.to_string(), updates, IfMissing::Create)
}

fn membership(id: &ConversationId, user: &UserId, updates: Vec<Update>) -> Write {
    Write::update(MEMBERSHIPS, &pair(&id.to_string(), user.as_str()), updates, IfMissing::Create)
}

fn count(members: &[UserId]) -> i64 {
    i64::try_from(members.len()).unwrap_or(i64::MAX)
}

fn pair(a: &str, b: &str) -> String {
    format!("{a}:{b}")
}

fn object(value: Value) -> Document {
    match value {
        Value::Object(doc) => doc,
        _ => Document::new(),
    }
}

fn timestamp(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// One conversation in a user's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationSummary {
    /// The conversation id.
    pub conversation: String,
    /// `direct` or `group`.
    pub kind: String,
    /// The group's title; absent for direct conversations.
    pub title: Option<String>,
    /// Who started it.
    pub started_by: String,
    /// When it started (RFC 3339).
    pub created: String,
    /// How many members it has.
    pub members: u64,
    /// The newest message, if any was sent.
    pub last_message: Option<MessagePreview>,
    /// Messages from others after the caller's read mark, not deleted.
    pub unread: u64,
    /// There may be more unread than `unread` (it counts at most
    /// [`UNREAD_SCAN`] messages).
    pub unread_more: bool,
}

/// The newest message of a conversation, shortened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessagePreview {
    /// The message id.
    pub message: String,
    /// Who sent it.
    pub author: String,
    /// The first characters of its text; absent when deleted.
    pub excerpt: Option<String>,
    /// When it was sent (RFC 3339).
    pub sent_at: String,
    /// It was deleted.
    pub deleted: bool,
}

/// A page of ConversationSummarys.
pub type ConversationPage = crate::Page<ConversationSummary>;

/// One message of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatMessage {
    /// The message id.
    pub message: String,
    /// Who sent it.
    pub author: String,
    /// Its text; absent when deleted.
    pub text: Option<String>,
    /// The message it answers, if any.
    pub reply_to: Option<String>,
    /// When it was sent (RFC 3339).
    pub sent_at: String,
    /// Its text was changed.
    pub edited: bool,
    /// It was deleted.
    pub deleted: bool,
    /// Where it was sent in the chat stream (`chat:<sequence>`): a chat
    /// gateway subscription resumes after it (docs/chat.md).
    pub position: String,
}

/// A page of ChatMessages.
pub type MessagePage = crate::Page<ChatMessage>;

/// A conversation's place in a user's list: its last activity and its id.
struct Listed {
    last_seq: u64,
    id: String,
    doc: Document,
    membership: Document,
}

/// The queries over one generation of the chat projection.
pub struct ChatQueries<'a, S> {
    store: &'a S,
    generation: Generation,
}

impl<'a, S: ReadStore> ChatQueries<'a, S> {
    /// Queries over `generation` in `store`.
    pub fn new(store: &'a S, generation: Generation) -> Self {
        Self { store, generation }
    }

    /// The user's membership of a conversation, if they are in it now.
    async fn membership(&self, conversation: &str, user: &str) -> Result<Option<Document>, ReadStoreError> {
        let doc = self.store.get(&self.generation.collection(MEMBERSHIPS), &pair(conversation, user)).await?;
        Ok(doc.filter(|d| d.get("left").and_then(Value::as_bool) == Some(false)))
    }

    /// Whether `user` is a member of `conversation` now.
    pub async fn is_member(&self, conversation: &str, user: &str) -> Result<bool, ReadStoreError> {
        Ok(self.membership(conversation, user).await?.is_some())
    }

    /// One page of the conversations `user` is in, latest activity first.
    pub async fn conversations(
        &self,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<ConversationPage, ReadStoreError> {
        // Listed in memory, not found: the list a cursor names is the user's
        // conversations, by latest activity.
        let list = Query::new(Filter::all().eq("user", user), "last_seq", Direction::Descending);
        let after = cursor.map(|c| cursor::decode(&list, &c)).transpose()?;
        let mut listed = self.listed(user).await?;
        listed.sort_by(|a, b| (b.last_seq, &b.id).cmp(&(a.last_seq, &a.id)));
        if let Some(after) = after {
            let at = (after.value.as_u64().unwrap_or(0), after.id);
            listed.retain(|l| (l.last_seq, &l.id) < (at.0, &at.1));
        }
        let more = listed.len() > limit as usize;
        listed.truncate(limit as usize);
        let next = more.then(|| listed.last().map(|l| cursor::encode(&list, &json!(l.last_seq), &l.id))).flatten();
        let mut items = Vec::with_capacity(listed.len());
        for entry in &listed {
            items.push(self.summary(user, entry).await?);
        }
        Ok(ConversationPage { items, next })
    }

    /// Every conversation the user is in now, with its activity: the join the
    /// module doc explains, one get per conversation.
    async fn listed(&self, user: &str) -> Result<Vec<Listed>, ReadStoreError> {
        let memberships = self.generation.collection(MEMBERSHIPS);
        let conversations = self.generation.collection(CONVERSATIONS);
        let filter = Filter::all().eq("user", user).eq("left", false);
        let mut query = Query::new(filter, "joined", Direction::Ascending);
        let mut listed = Vec::new();
        loop {
            let page = self.store.find(&memberships, &query).await?;
            for found in page.items {
                let Some(id) = text(&found.doc, "conversation") else { continue };
                let Some(doc) = self.store.get(&conversations, &id).await? else { continue };
                let last_seq = doc.get("last_seq").and_then(Value::as_u64).unwrap_or(0);
                listed.push(Listed { last_seq, id, doc, membership: found.doc });
            }
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => return Ok(listed),
            }
        }
    }

    async fn summary(&self, user: &str, entry: &Listed) -> Result<ConversationSummary, ReadStoreError> {
        let last = match text(&entry.doc, "last_message") {
            Some(id) => self.store.get(&self.generation.collection(MESSAGES), &id).await?.map(|d| preview(&id, &d)),
            None => None,
        };
        let (unread, unread_more) = self.unread(&entry.id, user, &entry.membership).await?;
        Ok(ConversationSummary {
            conversation: entry.id.clone(),
            kind: text(&entry.doc, "kind").unwrap_or_default(),
            title: text(&entry.doc, "title"),
            started_by: text(&entry.doc, "started_by").unwrap_or_default(),
            created: text(&entry.doc, "created").unwrap_or_default(),
            members: entry.doc.get("members").and_then(Value::as_u64).unwrap_or(0),
            last_message: last,
            unread,
            unread_more,
        })
    }

    /// Messages after the read position, from others, not deleted: counted
    /// over one page resumed right after the message read (a cursor is a
    /// position in the order, and the read message is that position).
    async fn unread(
        &self,
        conversation: &str,
        user: &str,
        membership: &Document,
    ) -> Result<(u64, bool), ReadStoreError> {
        let order = Direction::Ascending;
        let mut query = Query::new(Filter::all().eq("conversation", conversation), "seq", order).limit(UNREAD_SCAN);
        if let Some((sequence, message)) = self.read_position(membership).await? {
            let position = cursor::encode(&query, &json!(sequence), &message);
            query = query.after(Some(position));
        }
        let page = self.store.find(&self.generation.collection(MESSAGES), &query).await?;
        let counted = page.items.iter().filter(|m| {
            text(&m.doc, "author").as_deref() != Some(user)
                && m.doc.get("deleted").and_then(Value::as_bool) != Some(true)
        });
        Ok((counted.count() as u64, page.next.is_some()))
    }

    /// The sequence and id of the last message read; for a v1 mark, the
    /// sequence is the message's own.
    async fn read_position(&self, membership: &Document) -> Result<Option<(u64, String)>, ReadStoreError> {
        let Some(message) = text(membership, "read_message") else { return Ok(None) };
        if let Some(sequence) = membership.get("read_up_to").and_then(Value::as_u64) {
            return Ok(Some((sequence, message)));
        }
        let doc = self.store.get(&self.generation.collection(MESSAGES), &message).await?;
        Ok(doc.and_then(|d| d.get("seq").and_then(Value::as_u64)).map(|sequence| (sequence, message)))
    }

    /// One page of a conversation's messages, newest first; `None` when
    /// `user` is not a member now (the caller cannot tell that from a
    /// conversation that does not exist).
    pub async fn history(
        &self,
        conversation: &str,
        user: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Option<MessagePage>, ReadStoreError> {
        if !self.is_member(conversation, user).await? {
            return Ok(None);
        }
        let filter = Filter::all().eq("conversation", conversation);
        let query = Query::new(filter, "seq", Direction::Descending).limit(limit).after(cursor);
        let page = self.store.find(&self.generation.collection(MESSAGES), &query).await?;
        let items = page.items.iter().map(|found| message(&found.id, &found.doc)).collect();
        Ok(Some(MessagePage { items, next: page.next }))
    }
}

fn preview(id: &str, doc: &Document) -> MessagePreview {
    let excerpt = text(doc, "text").map(|t| t.chars().take(EXCERPT_CHARS).collect());
    MessagePreview {
        message: id.to_owned(),
        author: text(doc, "author").unwrap_or_default(),
        excerpt,
        sent_at: text(doc, "created").unwrap_or_default(),
        deleted: flag(doc, "deleted"),
    }
}

fn message(id: &str, doc: &Document) -> ChatMessage {
    ChatMessage {
        message: id.to_owned(),
        author: text(doc, "author").unwrap_or_default(),
        text: text(doc, "text"),
        reply_to: text(doc, "reply_to"),
        sent_at: text(doc, "created").unwrap_or_default(),
        edited: flag(doc, "edited"),
        deleted: flag(doc, "deleted"),
        position: format!("chat:{}", doc.get("seq").and_then(Value::as_u64).unwrap_or(0)),
    }
}

fn flag(doc: &Document, field: &str) -> bool {
    doc.get(field).and_then(Value::as_bool).unwrap_or(false)
}

fn text(doc: &Document, field: &str) -> Option<String> {
    doc.get(field).and_then(Value::as_str).map(str::to_owned)
}

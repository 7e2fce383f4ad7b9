//! One socket's life: authenticate with the first frame, then answer the
//! client's frames and write what the hub hands over, in order, each event
//! once, until either side ends it.
//!
//! Gap-free resume rests on one order of steps. A subscription joins the hub
//! first and reads what it missed from the stream second; every event is then
//! either in the stream when the read starts (and so in the read) or handed
//! out after the join (and so in the queue). The connection remembers the
//! last sequence it delivered per conversation and drops anything at or
//! before it, so the seam has no gap and no duplicate.

use crate::Gateway;
use crate::command_frames::{self, unavailable};
use crate::hub::{Listener, Outgoing};
use crate::live::{as_they_stand, conversation_patterns};
use crate::presence::Watcher;
use crate::protocol::{ClientFrame, MAX_WATCHED, ServerFrame, Since, TypingState, close};
use crate::relations::Relations;
use auth::Verified;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use domain::chat::Conversation;
use events::ids::{ConversationId, UserId};
use events::{Aggregate, Context, Position, StoreError};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

type Sink = SplitSink<WebSocket, Message>;

/// The most frames written with one flush.
const WRITE_BATCH: usize = 64;

/// A frame about to be written, with what its metrics need.
struct Pending {
    text: Utf8Bytes,
    kind: &'static str,
    /// When its event was appended (log events only).
    appended: Option<OffsetDateTime>,
}

/// Why a connection ends, when the gateway ends it.
struct Close(u16, &'static str);

/// Runs one socket until it ends.
pub async fn serve(socket: WebSocket, gateway: Gateway) {
    let (sink, mut stream) = socket.split();
    let mut connection = Connection::new(gateway, sink);
    let verified = match authenticate(&connection.gateway, &mut stream).await {
        Ok(verified) => verified,
        Err(Close(code, reason)) => return connection.close(code, reason).await,
    };
    connection.run(verified, stream).await;
}

/// Waits for the first frame, which must be `auth` with a token that
/// verifies. The token is never logged.
async fn authenticate(gateway: &Gateway, stream: &mut SplitStream<WebSocket>) -> Result<Arc<Verified>, Close> {
    let timeout = gateway.inner.settings.auth_timeout;
    let first = tokio::time::timeout(timeout, stream.next())
        .await
        .map_err(|_| Close(close::UNAUTHENTICATED, "no auth frame in time"))?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err(Close(close::UNAUTHENTICATED, "the first frame must be auth"));
    };
    gateway.inner.metrics.frame_in("auth");
    match ClientFrame::parse(&text) {
        Ok(ClientFrame::Auth { token }) => {
            gateway.inner.keys.verify(&token).map_err(|_| Close(close::INVALID_TOKEN, "invalid token"))
        }
        _ => Err(Close(close::UNAUTHENTICATED, "the first frame must be auth")),
    }
}

struct Connection {
    gateway: Gateway,
    id: u64,
    sink: Sink,
    /// Per subscribed conversation, the last stream sequence delivered.
    delivered: HashMap<ConversationId, u64>,
    bucket: Bucket,
    /// Raised by the hub or presence when this socket's queue overflowed.
    cut: Arc<Notify>,
    /// Whom the user has a block with (set once authenticated).
    relations: Option<Relations>,
}

/// The queue the hub fills and the signal it raises when it cannot.
struct Inbox {
    queue: mpsc::Sender<Outgoing>,
    cut: Arc<Notify>,
}

impl Connection {
    fn new(gateway: Gateway, sink: Sink) -> Self {
        let settings = gateway.inner.settings;
        let bucket = Bucket::new(settings.frames_per_second, settings.frame_burst);
        let cut = Arc::new(Notify::new());
        Self { id: gateway.next_connection(), gateway, sink, delivered: HashMap::new(), bucket, cut, relations: None }
    }

    async fn run(&mut self, verified: Arc<Verified>, mut stream: SplitStream<WebSocket>) {
        let metrics = self.gateway.inner.metrics.clone();
        metrics.connections.inc();
        let mut session = Session { user: verified.user.clone(), expires: expiry(&verified) };
        self.relations = Some(Relations::new(verified.user.clone()));
        let ready = ServerFrame::Ready { user: session.user.to_string(), epoch: self.gateway.epoch().to_owned() };
        let (queue, mut incoming) = mpsc::channel(self.gateway.inner.settings.queue);
        let inbox = Inbox { queue, cut: self.cut.clone() };
        let cut = self.cut.clone();
        let mut stop = self.gateway.inner.stop.clone();
        let stopping = async move {
            // The guard `wait_for` returns is not `Send`: dropped here, not held.
            let _ = stop.wait_for(|stop| *stop).await.map(drop);
        };
        tokio::pin!(stopping);
        let ping_every = self.gateway.inner.settings.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut heard = Instant::now();
        let me =
            Listener { connection: self.id, user: session.user.clone(), queue: inbox.queue.clone(), cut: cut.clone() };
        self.gateway.inner.hub.join(me);
        self.gateway.inner.presence.arrived(self.id, &session.user).await;
        let mut end = self.send(&ready).await.err();
        while end.is_none() {
            end = tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        heard = Instant::now();
                        // Boxed: commands and catch-ups are deep futures, and an idle
                        // socket's task would otherwise reserve their size for good.
                        Box::pin(self.on_text(&text, &mut session, &inbox)).await.err()
                    }
                    Some(Ok(Message::Binary(_))) => {
                        heard = Instant::now();
                        metrics.frame_in("other");
                        self.send(&ServerFrame::error("malformed", "frames are JSON text, not binary", None)).await.err()
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        heard = Instant::now();
                        None
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Some(Close(0, "")),
                },
                Some(item) = incoming.recv() => self.on_outgoing(item, &mut incoming).await.err(),
                () = cut.notified() => Some(too_slow()),
                () = tokio::time::sleep_until(session.expires) => Some(Close(close::TOKEN_EXPIRED, "token expired")),
                _ = ping.tick() => {
                    if heard.elapsed() > ping_every * 3 {
                        Some(Close(0, ""))
                    } else {
                        self.write(Message::Ping(Default::default())).await.err()
                    }
                }
                () = &mut stopping => Some(Close(close::GOING_AWAY, "the gateway is shutting down")),
            };
        }
        self.gateway.inner.hub.forget(self.id, self.delivered.keys().copied());
        self.gateway.inner.hub.part(&session.user, self.id);
        self.gateway.inner.presence.left(self.id, &session.user).await;
        metrics.connections.dec();
        if let Some(Close(code, reason)) = end
            && code != 0
        {
            if code == close::TOO_SLOW {
                metrics.slow_disconnects.inc();
            }
            self.close(code, reason).await;
        }
    }

    async fn on_text(&mut self, text: &str, session: &mut Session, inbox: &Inbox) -> Result<(), Close> {
        let settings = self.gateway.inner.settings;
        if text.len() > settings.max_frame_bytes {
            self.gateway.inner.metrics.frame_in("other");
            let detail = format!("frames are at most {} bytes", settings.max_frame_bytes);
            return self.send(&ServerFrame::error("too-large", detail, None)).await;
        }
        if !self.bucket.take() {
            self.gateway.inner.metrics.frame_in("other");
            let detail = format!("at most {} frames a second; this one was dropped", settings.frames_per_second);
            return self.send(&ServerFrame::error("rate-limited", detail, None)).await;
        }
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(error) => {
                self.gateway.inner.metrics.frame_in("other");
                return self.send(&error).await;
            }
        };
        self.gateway.inner.metrics.frame_in(frame.kind());
        let answer = match frame {
            ClientFrame::Auth { token } => self.reauthenticate(&token, session)?,
            ClientFrame::Subscribe { conversation, since } => {
                self.subscribe(&conversation, since, &session.user, inbox).await?
            }
            ClientFrame::Unsubscribe { conversation } => self.unsubscribe(&conversation),
            ClientFrame::Typing { conversation, state } => self.typing(&conversation, state, &session.user).await,
            ClientFrame::Presence { users } => return self.watch(&users, inbox).await,
            command => command_frames::answer(&self.gateway, self.id, command, &session.user).await,
        };
        match answer {
            Some(frame) => self.send(&frame).await,
            None => Ok(()),
        }
    }

    /// A fresh token for the same user moves the expiry; any other closes.
    fn reauthenticate(&self, token: &str, session: &mut Session) -> Result<Option<ServerFrame>, Close> {
        match self.gateway.inner.keys.verify(token) {
            Ok(verified) if verified.user == session.user => {
                session.expires = expiry(&verified);
                Ok(None)
            }
            _ => Err(Close(close::INVALID_TOKEN, "invalid token")),
        }
    }

    async fn subscribe(
        &mut self,
        raw: &str,
        since: Option<Since>,
        user: &UserId,
        inbox: &Inbox,
    ) -> Result<Option<ServerFrame>, Close> {
        let Ok(conversation) = ConversationId::parse(raw) else {
            return Ok(Some(ServerFrame::error("invalid-id", "conversation is not a conversation id", None)));
        };
        match self.is_member(conversation, user).await {
            Ok(true) => {}
            Ok(false) => {
                let detail = "You are not a member of this conversation.";
                return Ok(Some(ServerFrame::error("not-a-member", detail, None)));
            }
            Err(e) => return Ok(Some(unavailable(&e, None))),
        }
        let listener =
            Listener { connection: self.id, user: user.clone(), queue: inbox.queue.clone(), cut: inbox.cut.clone() };
        // Join first, read what was missed second: see the module's comment.
        self.gateway.inner.hub.subscribe(conversation, listener);
        match self.catch_up(conversation, since, user).await {
            Ok(Ok(delivered)) => {
                self.delivered.insert(conversation, delivered);
                Ok(Some(ServerFrame::Subscribed {
                    conversation: conversation.to_string(),
                    position: chat_position(delivered),
                    epoch: self.gateway.epoch().to_owned(),
                }))
            }
            Ok(Err(reason)) => {
                self.gateway.inner.hub.unsubscribe(conversation, self.id);
                self.gateway.inner.metrics.resume("resync");
                let epoch = self.gateway.epoch().to_owned();
                Ok(Some(ServerFrame::Resync { conversation: conversation.to_string(), reason, epoch }))
            }
            Err(Caught::Invalid(frame)) => {
                self.gateway.inner.hub.unsubscribe(conversation, self.id);
                Ok(Some(frame))
            }
            Err(Caught::Closed(close)) => Err(close),
        }
    }

    /// Sends what the client missed since `since`, in order; the last
    /// sequence delivered, or why the client must resync instead.
    async fn catch_up(
        &mut self,
        conversation: ConversationId,
        since: Option<Since>,
        user: &UserId,
    ) -> Result<Result<u64, &'static str>, Caught> {
        let log = self.gateway.inner.commands.store().clone();
        let state = log.stream_state(Context::Chat).await.map_err(|e| Caught::Invalid(unavailable(&e, None)))?;
        let Some(since) = since else { return Ok(Ok(state.last_sequence)) };
        let after = match since.position.parse::<Position>() {
            Ok(Position { context: Context::Chat, sequence }) => sequence,
            _ => {
                let detail = "since.position is not a chat position (chat:<sequence>)";
                return Err(Caught::Invalid(ServerFrame::error("invalid-position", detail, None)));
            }
        };
        if since.epoch != self.gateway.epoch() || after > state.last_sequence {
            return Ok(Err("epoch"));
        }
        if after.saturating_add(1) < state.first_sequence {
            return Ok(Err("history-gone"));
        }
        let max = self.gateway.inner.settings.resume_max;
        let patterns = conversation_patterns(conversation);
        let backlog = log
            .read_after(Context::Chat, &patterns, after, max)
            .await
            .map_err(|e| Caught::Invalid(unavailable(&e, None)))?;
        if !backlog.complete {
            return Ok(Err("too-far-behind"));
        }
        self.gateway.inner.metrics.resume("replayed");
        for (frame, reader) in as_they_stand(&backlog.events, self.gateway.epoch(), user) {
            if let Some(reader) = reader
                && !self.may_see_receipt(&reader).await
            {
                continue;
            }
            self.send(&frame).await.map_err(Caught::Closed)?;
        }
        Ok(Ok(backlog.events.last().map_or(after, |last| last.position.sequence)))
    }

    fn unsubscribe(&mut self, raw: &str) -> Option<ServerFrame> {
        let Ok(conversation) = ConversationId::parse(raw) else {
            return Some(ServerFrame::error("invalid-id", "conversation is not a conversation id", None));
        };
        self.gateway.inner.hub.unsubscribe(conversation, self.id);
        self.delivered.remove(&conversation);
        let reason = "unsubscribed".to_owned();
        Some(ServerFrame::Unsubscribed { conversation: conversation.to_string(), reason })
    }

    /// Tells the conversation's other subscribers, on every gateway, that
    /// the user types; only in a conversation this socket subscribed to,
    /// where membership was checked.
    async fn typing(&self, raw: &str, state: TypingState, user: &UserId) -> Option<ServerFrame> {
        let conversation = ConversationId::parse(raw).ok().filter(|c| self.delivered.contains_key(c));
        let Some(conversation) = conversation else {
            return Some(ServerFrame::error("not-subscribed", "subscribe to the conversation first", None));
        };
        let typing = state == TypingState::Start;
        self.gateway.inner.typing.publish(conversation, user, typing, self.id).await;
        None
    }

    /// Watches `raw`'s presence from now on, answering where each stands.
    async fn watch(&mut self, raw: &[String], inbox: &Inbox) -> Result<(), Close> {
        if raw.len() > MAX_WATCHED {
            let detail = format!("watch at most {MAX_WATCHED} users");
            return self.send(&ServerFrame::error("too-many-users", detail, None)).await;
        }
        let Ok(users) = raw.iter().map(|u| UserId::parse(u)).collect::<Result<Vec<_>, _>>() else {
            return self
                .send(&ServerFrame::error("invalid-id", "users holds something that is not a user id", None))
                .await;
        };
        let apart = match self.relations.as_mut() {
            Some(relations) => relations.apart_among(&self.gateway.inner.commands, &users).await,
            None => users.iter().cloned().collect(),
        };
        let watcher = Watcher { users, queue: inbox.queue.clone(), cut: inbox.cut.clone(), apart };
        match self.gateway.inner.presence.watch(self.id, watcher).await {
            Ok(frames) => {
                for frame in frames {
                    self.send(&frame).await?;
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "presence could not be read");
                self.send(&ServerFrame::error("unavailable", "presence is unavailable; try again", None)).await
            }
        }
    }

    async fn is_member(&self, conversation: ConversationId, user: &UserId) -> Result<bool, StoreError> {
        let aggregate = Aggregate::conversation(conversation);
        Ok(self.gateway.inner.commands.current::<Conversation>(&aggregate).await?.is_member(user))
    }

    /// Writes what the hub handed over: this item and whatever else waits,
    /// up to a batch, with one flush, so a busy socket costs a write per
    /// batch rather than per frame.
    async fn on_outgoing(&mut self, first: Outgoing, queue: &mut mpsc::Receiver<Outgoing>) -> Result<(), Close> {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Outgoing::Left(conversation) => {
                    if self.delivered.remove(&conversation).is_some() {
                        let reason = "left".to_owned();
                        let frame = ServerFrame::Unsubscribed { conversation: conversation.to_string(), reason };
                        batch.push(Pending { text: frame.to_text().into(), kind: "unsubscribed", appended: None });
                    }
                }
                Outgoing::Event { reader: Some(ref reader), .. } if !self.may_see_receipt(reader).await => {}
                item => batch.extend(self.pending(item)),
            }
            next = if batch.len() < WRITE_BATCH { queue.try_recv().ok() } else { None };
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.write_all(batch.iter().map(|p| Message::Text(p.text.clone())).collect()).await?;
        let (metrics, now) = (&self.gateway.inner.metrics, OffsetDateTime::now_utc());
        for pending in batch {
            metrics.frame_out(pending.kind);
            if let Some(appended) = pending.appended {
                metrics.delivery.observe((now - appended).as_seconds_f64().max(0.0));
            }
        }
        Ok(())
    }

    /// The frame to write for an item, if this socket still wants it.
    fn pending(&mut self, item: Outgoing) -> Option<Pending> {
        match item {
            Outgoing::Event { conversation, sequence, text, appended, .. } => {
                match self.delivered.get_mut(&conversation) {
                    Some(delivered) if sequence > *delivered => *delivered = sequence,
                    // Unsubscribed since, or already sent by the catch-up.
                    _ => return None,
                }
                Some(Pending { text, kind: "message", appended: Some(appended) })
            }
            Outgoing::Ephemeral { conversation, text } => {
                self.delivered.contains_key(&conversation).then_some(Pending { text, kind: "typing", appended: None })
            }
            Outgoing::Direct(text, kind) => Some(Pending { text, kind, appended: None }),
            Outgoing::Left(_) => None,
        }
    }

    /// Whether a receipt of `reader` may reach this socket (blocks).
    async fn may_see_receipt(&mut self, reader: &UserId) -> bool {
        let commands = &self.gateway.inner.commands;
        match self.relations.as_mut() {
            Some(relations) => relations.may_see_receipt(commands, reader).await,
            None => false,
        }
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Close> {
        self.write_text(frame.to_text().into(), frame.kind()).await
    }

    async fn write_text(&mut self, text: Utf8Bytes, kind: &'static str) -> Result<(), Close> {
        self.write(Message::Text(text)).await?;
        self.gateway.inner.metrics.frame_out(kind);
        Ok(())
    }

    async fn write(&mut self, message: Message) -> Result<(), Close> {
        self.write_all(vec![message]).await
    }

    /// Writes frames with one flush. A socket that does not take them in
    /// time is gone; one whose queue overflows while it blocks is too slow.
    async fn write_all(&mut self, messages: Vec<Message>) -> Result<(), Close> {
        let timeout = self.gateway.inner.settings.write_timeout;
        let cut = self.cut.clone();
        let sink = &mut self.sink;
        let written = async move {
            for message in messages {
                sink.feed(message).await?;
            }
            sink.flush().await
        };
        tokio::select! {
            written = tokio::time::timeout(timeout, written) => match written {
                Ok(Ok(())) => Ok(()),
                _ => Err(Close(0, "")),
            },
            () = cut.notified() => Err(too_slow()),
        }
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = self.write(Message::Close(Some(frame))).await;
    }
}

fn too_slow() -> Close {
    Close(close::TOO_SLOW, "too slow: resume after reconnecting")
}

/// Why a subscription could not be set up: an error frame to answer, or the
/// socket failed while replaying.
enum Caught {
    Invalid(ServerFrame),
    Closed(Close),
}

/// Who the connection belongs to, until when.
struct Session {
    user: UserId,
    expires: Instant,
}

/// When a token's connection must end: its `exp`, as an instant of this clock.
fn expiry(verified: &Verified) -> Instant {
    let now = jsonwebtoken::get_current_timestamp();
    Instant::now() + Duration::from_secs(verified.claims.exp.saturating_sub(now))
}

fn chat_position(sequence: u64) -> String {
    Position { context: Context::Chat, sequence }.to_string()
}

/// A token bucket: `rate` frames a second on average, `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self { tokens: f64::from(burst), rate: f64::from(rate), burst: f64::from(burst), last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

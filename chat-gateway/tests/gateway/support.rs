//! A gateway on 127.0.0.1:0 over the test's own streams, and WebSocket
//! clients that speak to it over the network.

use auth::{Claims, JwtConfig, JwtKeys, Secret};
use chat_gateway::{Gateway, Settings};
use commands::{CommandContext, Commands};
use domain::chat::{Conversation, ConversationCommand, GroupTitle};
use events::catalog::users::{MessagePolicy, Settings as UserSettings, SettingsChanged, UserBlocked, UserRegistered};
use events::ids::{ConversationId, UserId};
use events::{Aggregate, Expected, Metadata};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use testkit::TestLog;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SECRET: &str = "chat-gateway-test-secret-0123456789abcdef";

/// Long enough for a loaded machine, short enough to fail a hang.
const WAIT: Duration = Duration::from_secs(10);

/// One gateway process's worth, on the test's namespace.
pub struct Harness {
    pub log: TestLog,
    pub commands: Commands,
    keys: JwtKeys,
    gateways: Vec<(String, Gateway)>,
    _stop: watch::Sender<bool>,
}

fn jwt() -> JwtConfig {
    JwtConfig { secret: Secret::new(SECRET), issuer: None, audience: None }
}

/// The keys the gateways check tokens with.
pub fn keys() -> JwtKeys {
    JwtKeys::new(&jwt())
}

impl Harness {
    /// One gateway with default settings.
    pub async fn start() -> Self {
        Self::with(Settings::default(), 1).await
    }

    /// `count` gateways sharing the log, as separate instances behind a load
    /// balancer would.
    pub async fn with(settings: Settings, count: usize) -> Self {
        let log = TestLog::new().await;
        let (stop, stopped) = watch::channel(false);
        let mut gateways = Vec::new();
        for _ in 0..count {
            let metrics = ops::Metrics::new("chat-gateway");
            let redis = testkit::redis::redis_url();
            let gateway =
                Gateway::start(log.store.clone(), &redis, &jwt(), settings, metrics, stopped.clone()).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(chat_gateway::serve(listener, gateway.clone(), std::future::pending()));
            wait_ready(&format!("http://{address}/ready")).await;
            gateways.push((format!("ws://{address}/ws"), gateway));
        }
        let commands = Commands::new(log.store.clone(), commands::Settings::default());
        Self { log, commands, keys: keys(), gateways, _stop: stop }
    }

    /// The chat stream's epoch.
    pub fn epoch(&self) -> String {
        self.gateways[0].1.epoch().to_owned()
    }

    /// A token for `user` valid for `seconds`.
    pub fn token(&self, user: &str, seconds: u64) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user.to_owned(),
            name: None,
            email: None,
            picture: None,
            role: None,
            iat: now,
            exp: now + seconds,
            nbf: None,
            iss: None,
            aud: None,
        };
        self.keys.mint(&claims).unwrap()
    }

    /// A socket to gateway `n`, not yet authenticated.
    pub async fn open(&self, n: usize) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(&self.gateways[n].0).await.unwrap();
        Client { ws }
    }

    /// A socket to gateway `n` whose receive buffer is tiny: it cannot take in
    /// much while the test does not read.
    pub async fn open_narrow(&self, n: usize) -> Client {
        let url = &self.gateways[n].0;
        let address = url.trim_start_matches("ws://").trim_end_matches("/ws").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(address).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), MaybeTlsStream::Plain(stream)).await.unwrap();
        Client { ws }
    }

    /// Gateway `n`'s metrics text.
    pub async fn metrics(&self, n: usize) -> String {
        let url = self.gateways[n].0.replacen("ws://", "http://", 1).replace("/ws", "/metrics");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }

    /// A socket to the first gateway, authenticated as `user`.
    pub async fn connect(&self, user: &str) -> Client {
        self.connect_to(0, user).await
    }

    /// A socket to gateway `n`, authenticated as `user`.
    pub async fn connect_to(&self, n: usize, user: &str) -> Client {
        let mut client = self.open(n).await;
        client.send(json!({"type": "auth", "token": self.token(user, 3600)})).await;
        let ready = client.next_of("ready").await;
        assert_eq!(ready["user"], user);
        client
    }

    /// A group of `members` (the first starts it).
    pub async fn group(&self, members: &[&str]) -> ConversationId {
        let by = UserId::parse(members[0]).unwrap();
        let conversation = ConversationId(uuid());
        let command = ConversationCommand::StartGroup {
            conversation,
            by: by.clone(),
            members: members[1..].iter().map(|m| UserId::parse(m).unwrap()).collect(),
            title: GroupTitle::parse("study group").unwrap(),
            refused: vec![],
        };
        let context = CommandContext::new(Metadata::new(Some(by)), None);
        self.commands.create::<Conversation>(&context, &Aggregate::conversation(conversation), command).await.unwrap();
        conversation
    }

    /// `user` registers (once) and sets whether others see their presence
    /// and their read receipts, written to the log as givens.
    pub async fn settings(&self, user: &str, show_presence: bool, read_receipts: bool) {
        let id = UserId::parse(user).unwrap();
        let aggregate = Aggregate::user(&id);
        let metadata = Metadata::new(Some(id.clone()));
        if self.log.store.version(&aggregate).await.unwrap() == 0 {
            let handle = events::ids::Handle::parse(user).unwrap();
            let registered = UserRegistered { user: id.clone(), handle, display_name: user.into(), email: None };
            self.log.store.append(&aggregate, Expected::Any, registered, &metadata, None).await.unwrap();
        }
        let settings = UserSettings { show_presence, read_receipts, messages_from: MessagePolicy::Everyone };
        let changed = SettingsChanged { user: id, settings };
        self.log.store.append(&aggregate, Expected::Any, changed, &metadata, None).await.unwrap();
    }

    /// `blocker` blocks `blocked`, written to the log as a given.
    pub async fn block(&self, blocker: &str, blocked: &str) {
        let (blocker, blocked) = (UserId::parse(blocker).unwrap(), UserId::parse(blocked).unwrap());
        let aggregate = Aggregate::block(&blocker, &blocked);
        let metadata = Metadata::new(Some(blocker.clone()));
        let event = UserBlocked { blocker, blocked };
        self.log.store.append(&aggregate, Expected::Any, event, &metadata, None).await.unwrap();
    }

    /// `member` leaves the group.
    pub async fn leave(&self, conversation: ConversationId, member: &str) {
        let member = UserId::parse(member).unwrap();
        let context = CommandContext::new(Metadata::new(Some(member.clone())), None);
        let command = ConversationCommand::Leave { member };
        self.commands.execute::<Conversation>(&context, &Aggregate::conversation(conversation), command).await.unwrap();
    }
}

fn uuid() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

async fn wait_ready(url: &str) {
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(url).await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never became ready");
}

/// A WebSocket client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.ws.send(Message::text(frame.to_string())).await.unwrap();
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// The next JSON frame.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame in time");
            match message.expect("the socket is open").unwrap() {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be of `kind`.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "{frame}");
        frame
    }

    /// Nothing arrives for a while.
    pub async fn silent_for(&mut self, wait: Duration) {
        if let Ok(Some(Ok(message))) = tokio::time::timeout(wait, self.ws.next()).await {
            panic!("expected silence, got {message:?}");
        }
    }

    /// Subscribes and waits for `subscribed`.
    pub async fn subscribe(&mut self, conversation: ConversationId) -> Value {
        self.send(json!({"type": "subscribe", "conversation": conversation.to_string()})).await;
        self.next_of("subscribed").await
    }

    /// Sends a message and waits for its ack.
    pub async fn say(&mut self, conversation: ConversationId, client_id: &str, body: &str) -> Value {
        let frame =
            json!({"type": "send", "conversation": conversation.to_string(), "client_id": client_id, "body": body});
        self.send(frame).await;
        self.next_of("ack").await
    }

    /// The close code the server ended the connection with.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a close in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return u16::from(CloseCode::Status),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("the socket failed instead of closing: {e}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    }

    /// The next frame of any kind; `None` when the socket ended without a
    /// close frame.
    pub async fn raw_next(&mut self) -> Option<Message> {
        let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame or the end in time");
        message.and_then(Result::ok)
    }

    /// Closes from the client's side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

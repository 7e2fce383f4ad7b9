//! `pulse events tail` and `pulse events show`: the log as operators read it,
//! as compact lines or as CloudEvents JSON (the structured format), one per line;
//! `show --at` also prints the aggregate as the rules saw it at that point.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use domain::Decider;
use events::envelope::EventType;
use events::{Aggregate, Context, EventStore, IntoDomainEvent, Position, Recorded, Start, Subscribe};
use serde_json::{Value, json};
use std::fmt::Debug;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How events are printed.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `<time> <context>:<seq> <type> <subject> actor=<actor> <data>`.
    #[default]
    Line,
    /// One CloudEvents JSON object per line.
    Json,
}

/// `pulse events tail`.
#[derive(Args, Debug, Clone)]
pub struct TailArgs {
    /// Only these contexts (repeatable); default all.
    #[arg(long = "context", value_parser = parse_context)]
    pub contexts: Vec<Context>,
    /// Only this aggregate, such as `content.post.<id>`.
    #[arg(long, value_parser = Aggregate::parse)]
    pub aggregate: Option<Aggregate>,
    /// Only events of this name, such as `PostCreated`.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Only events by this user.
    #[arg(long)]
    pub actor: Option<String>,
    /// Start at the first event at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<OffsetDateTime>,
    /// Stop at this time (RFC 3339), and exit at the end of the log.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<OffsetDateTime>,
    /// Start at the beginning of the log instead of with new events.
    #[arg(long)]
    pub from_start: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pulse events show`.
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// The aggregate, such as `content.post.<id>` or `users.user.<id>`.
    #[arg(value_parser = Aggregate::parse)]
    pub aggregate: Aggregate,
    /// Only the history up to this position (`<context>:<sequence>`, as a
    /// command answers it), then the aggregate's state there.
    #[arg(long, value_parser = parse_position)]
    pub at: Option<Position>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn parse_position(raw: &str) -> Result<Position, String> {
    raw.parse()
}

fn parse_context(raw: &str) -> Result<Context, String> {
    Context::parse(raw).ok_or_else(|| format!("{raw:?} is not one of users, content, chat, notifications"))
}

fn parse_time(raw: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| format!("{raw:?} is not an RFC 3339 time: {e}"))
}

/// Which events a tail prints.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Event name.
    pub event_type: Option<String>,
    /// Acting user.
    pub actor: Option<String>,
}

impl Filter {
    /// Whether the event passes.
    pub fn matches(&self, recorded: &Recorded) -> bool {
        let type_ok = self.event_type.as_deref().is_none_or(|t| recorded.event.name() == t);
        let actor = recorded.envelope.actor.as_ref().map(|a| a.as_str());
        let actor_ok = self.actor.as_deref().is_none_or(|a| actor == Some(a));
        type_ok && actor_ok
    }
}

/// The type of the data shown: events are read upcast to the current
/// version, so the stored type may name an older one.
fn shown_type(recorded: &Recorded) -> EventType {
    let event = &recorded.event;
    EventType { context: event.context(), name: event.name().to_owned(), version: event.version() }
}

/// The stored type, when it is not the type of the data shown.
fn stored_type(recorded: &Recorded) -> Option<&EventType> {
    let stored = &recorded.envelope.event_type;
    (stored.version != recorded.event.version()).then_some(stored)
}

/// One event as a compact line: its type is that of the data shown, followed
/// by `(stored as <type>)` when the log holds an older version.
pub fn line(recorded: &Recorded) -> String {
    let envelope = &recorded.envelope;
    let time = envelope.time.format(&Rfc3339).unwrap_or_default();
    let actor = envelope.actor.as_ref().map_or("-", |a| a.as_str());
    let stored = stored_type(recorded).map(|t| format!(" (stored as {t})")).unwrap_or_default();
    format!(
        "{time} {} {}{stored} {} actor={actor} {}",
        recorded.position,
        shown_type(recorded),
        envelope.subject,
        recorded.event.to_value()
    )
}

/// One event in the CloudEvents JSON format.
pub fn cloudevent(recorded: &Recorded) -> Value {
    let envelope = &recorded.envelope;
    let mut event = json!({
        "specversion": "1.0",
        "id": envelope.id.to_string(),
        "source": envelope.source,
        "type": shown_type(recorded).to_string(),
        "subject": envelope.subject,
        "time": envelope.time.format(&Rfc3339).unwrap_or_default(),
        "datacontenttype": "application/json",
        "correlationid": envelope.correlation_id,
        "data": recorded.event.to_value(),
    });
    if let Some(causation) = &envelope.causation_id {
        event["causationid"] = json!(causation);
    }
    if let Some(actor) = &envelope.actor {
        event["actor"] = json!(actor.as_str());
    }
    if let Some(stored) = stored_type(recorded) {
        event["storedtype"] = json!(stored.to_string());
    }
    event
}

fn print(recorded: &Recorded, format: Format) {
    match format {
        Format::Line => println!("{}", line(recorded)),
        Format::Json => println!("{}", cloudevent(recorded)),
    }
}

/// Prints an aggregate's history, then its version; with `--at`, the history
/// up to that position and the state it folds to.
pub async fn show(store: &EventStore, args: &ShowArgs) -> anyhow::Result<()> {
    let aggregate = &args.aggregate;
    let mut history = store.load(aggregate).await.with_context(|| format!("reading {aggregate}"))?;
    if let Some(at) = args.at {
        if at.context != aggregate.context() {
            bail!("{aggregate} is in the {} stream, not {}", aggregate.context(), at.context);
        }
        history.events.retain(|r| r.position.sequence <= at.sequence);
        history.version = history.events.last().map_or(0, |r| r.position.sequence);
    }
    for recorded in &history.events {
        print(recorded, args.format);
    }
    eprintln!("{aggregate}: {} events, version {}", history.events.len(), history.version);
    if let Some(at) = args.at {
        match state(aggregate, &history.events) {
            Some(state) => println!("state at {at}:\n{state}"),
            None => eprintln!("no rules fold a {} aggregate; its events are above", aggregate.kind()),
        }
    }
    Ok(())
}

/// What the rules of the aggregate's kind make of these events; `None` for
/// kinds no rule folds (notifications and inboxes are read models, not
/// aggregates a command decides on).
fn state(aggregate: &Aggregate, events: &[Recorded]) -> Option<String> {
    use domain::{chat, content, notify, users};
    fn fold<D: Decider + Debug>(events: &[Recorded]) -> String {
        format!("{:#?}", D::fold(events.iter().filter_map(|r| D::Event::peel(&r.event))))
    }
    Some(match aggregate.kind() {
        "user" => fold::<users::User>(events),
        "handle" => fold::<users::HandleClaim>(events),
        "follow" => fold::<users::Follow>(events),
        "block" => fold::<users::Block>(events),
        "post" => fold::<content::Post>(events),
        "comment" => fold::<content::Comment>(events),
        "like" => fold::<content::Like>(events),
        "event" => fold::<content::CalendarEvent>(events),
        "conversation" => fold::<chat::Conversation>(events),
        "message" => fold::<chat::Message>(events),
        "read" => fold::<chat::ReadMark>(events),
        "preferences" => fold::<notify::NotifySettings>(events),
        _ => return None,
    })
}

/// Follows the streams and prints what passes the filter. With `--until`, it
/// exits once every stream is read up to where it was when the tail began.
pub async fn tail(store: &EventStore, args: &TailArgs) -> anyhow::Result<()> {
    let contexts = match (&args.aggregate, args.contexts.is_empty()) {
        (Some(aggregate), _) => vec![aggregate.context()],
        (None, true) => Context::ALL.to_vec(),
        (None, false) => args.contexts.clone(),
    };
    let start = match (args.since, args.from_start || args.until.is_some()) {
        (Some(since), _) => Start::Since(since),
        (None, true) => Start::Beginning,
        (None, false) => Start::New,
    };
    let filter = Filter { event_type: args.event_type.clone(), actor: args.actor.clone() };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<anyhow::Result<Recorded>>(1024);
    for context in contexts {
        let subscribe = Subscribe {
            context,
            filter: args.aggregate.as_ref().map(ToString::to_string),
            start,
            ack_wait: Duration::from_secs(30),
        };
        let head = if args.until.is_some() { Some(store.head(context).await?) } else { None };
        tokio::spawn(follow(store.clone(), subscribe, head, args.until, sender.clone()));
    }
    drop(sender);
    while let Some(next) = receiver.recv().await {
        let recorded = next?;
        if filter.matches(&recorded) {
            print(&recorded, args.format);
        }
    }
    Ok(())
}

/// Feeds one stream's events into `sender`; stops at `head` or past `until`.
async fn follow(
    store: EventStore,
    subscribe: Subscribe,
    head: Option<u64>,
    until: Option<OffsetDateTime>,
    sender: tokio::sync::mpsc::Sender<anyhow::Result<Recorded>>,
) {
    if head == Some(0) {
        return;
    }
    let mut subscription = match store.tail(subscribe).await {
        Ok(subscription) => subscription,
        Err(e) => {
            let _ = sender.send(Err(e.into())).await;
            return;
        }
    };
    // With --until the log is read to its end as of now; an idle stream that is
    // already past `head` (its last events filtered out) ends on the timeout.
    let idle = Duration::from_secs(2);
    loop {
        let next = match head {
            Some(_) => match tokio::time::timeout(idle, subscription.next()).await {
                Ok(next) => next,
                Err(_) => return,
            },
            None => subscription.next().await,
        };
        let Some(delivery) = next else { return };
        let item = delivery.map_err(anyhow::Error::from).and_then(|d| d.recorded.map_err(anyhow::Error::from));
        let (past_until, at_head) = match &item {
            Ok(r) => (until.is_some_and(|u| r.envelope.time > u), head.is_some_and(|h| r.position.sequence >= h)),
            Err(_) => (false, false),
        };
        if past_until || sender.send(item).await.is_err() || at_head {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use events::catalog::content::{PostBody, PostCreated};
    use events::envelope::Envelope;
    use events::ids::{PostId, UserId};
    use events::{DomainEvent, Position};

    fn recorded(name_actor: Option<&str>) -> Recorded {
        let post = PostId::parse("0192f1c4-5a6b-7c8d-9e0f-112233445566").unwrap();
        let author = UserId::parse("ana").unwrap();
        let body = PostBody { text: "hi".into(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] };
        Recorded {
            envelope: Envelope {
                id: uuid::Uuid::nil(),
                source: "/pulse/command-api".into(),
                event_type: EventType { context: Context::Content, name: "PostCreated".into(), version: 1 },
                subject: format!("content.post.{post}"),
                time: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
                correlation_id: "c1".into(),
                causation_id: None,
                actor: name_actor.map(|a| UserId::parse(a).unwrap()),
            },
            event: DomainEvent::Content(PostCreated { post, author, body }.into()),
            position: Position { context: Context::Content, sequence: 7 },
            idempotency_key: None,
        }
    }

    #[test]
    fn a_line_shows_time_position_type_subject_actor_and_data() {
        let line = line(&recorded(Some("ana")));
        assert!(
            line.starts_with("2023-11-14T22:13:20Z content:7 pulse.content.PostCreated.v1 content.post.0192f1c4"),
            "{line}"
        );
        assert!(line.contains(" actor=ana {"), "{line}");
        assert!(line.contains(r#""text":"hi""#), "{line}");
    }

    #[test]
    fn the_json_form_carries_every_cloudevents_attribute() {
        let event = cloudevent(&recorded(Some("ana")));
        for attribute in
            ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "correlationid", "actor"]
        {
            assert!(event.get(attribute).is_some(), "{attribute} missing in {event}");
        }
        assert_eq!(event["data"]["body"]["text"], "hi");
        assert!(cloudevent(&recorded(None)).get("actor").is_none());
    }

    #[test]
    fn an_upcast_event_shows_the_type_of_its_data_and_the_type_it_was_stored_as() {
        let stored = r#"{"user":"ana","handle":"ana","name":"Ana"}"#;
        let event = events::upcast::decode(Context::Users, "UserRegistered", 1, stored.as_bytes()).unwrap();
        assert_eq!(event.version(), 2, "the catalogue's current version");
        let mut old = recorded(Some("ana"));
        old.envelope.event_type = EventType { context: Context::Users, name: "UserRegistered".into(), version: 1 };
        old.event = event;

        let line = line(&old);
        assert!(line.contains(" pulse.users.UserRegistered.v2 (stored as pulse.users.UserRegistered.v1) "), "{line}");
        let json = cloudevent(&old);
        assert_eq!(json["type"], "pulse.users.UserRegistered.v2");
        assert_eq!(json["storedtype"], "pulse.users.UserRegistered.v1");
        assert!(cloudevent(&recorded(None)).get("storedtype").is_none(), "a current event has none");
    }

    #[test]
    fn the_filter_checks_type_and_actor() {
        let event = recorded(Some("ana"));
        let filter =
            |t: Option<&str>, a: Option<&str>| Filter { event_type: t.map(Into::into), actor: a.map(Into::into) };
        assert!(filter(None, None).matches(&event));
        assert!(filter(Some("PostCreated"), Some("ana")).matches(&event));
        assert!(!filter(Some("PostEdited"), None).matches(&event));
        assert!(!filter(None, Some("ben")).matches(&event));
        assert!(!filter(None, Some("ana")).matches(&recorded(None)));
    }
}

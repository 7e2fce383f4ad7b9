//! The CloudEvents 1.0 envelope and its NATS binary-mode mapping.
//!
//! Every message on a Pulse stream is a CloudEvent in binary content mode (the
//! CloudEvents NATS protocol binding): each attribute is a `ce-<name>` header,
//! `datacontenttype` is the `content-type` header, and the body is the event's
//! JSON. Any CloudEvents SDK can read the streams.
//! **Invariant:** only this module knows the `ce-*` header names.

use crate::catalog::Context;
use crate::ids::UserId;
use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The CloudEvents spec version written and accepted.
pub const SPEC_VERSION: &str = "1.0";
/// The data content type of every Pulse event.
pub const CONTENT_TYPE: &str = "application/json";

/// Header names of the binary mode. Extension names follow the CloudEvents
/// rule: lowercase letters and digits only.
pub mod header {
    /// `specversion`.
    pub const SPEC_VERSION: &str = "ce-specversion";
    /// `id`.
    pub const ID: &str = "ce-id";
    /// `source`.
    pub const SOURCE: &str = "ce-source";
    /// `type`.
    pub const TYPE: &str = "ce-type";
    /// `subject`: the aggregate address.
    pub const SUBJECT: &str = "ce-subject";
    /// `time`.
    pub const TIME: &str = "ce-time";
    /// `datacontenttype`, mapped to `content-type` by the NATS binding.
    pub const CONTENT_TYPE: &str = "content-type";
    /// Extension: the id shared by everything one user action caused.
    pub const CORRELATION_ID: &str = "ce-correlationid";
    /// Extension: the id of the request or event that directly caused this one.
    pub const CAUSATION_ID: &str = "ce-causationid";
    /// Extension: the user who acted, absent for system events.
    pub const ACTOR: &str = "ce-actor";
}

/// The versioned type of an event: `pulse.<context>.<Name>.v<version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventType {
    /// The context.
    pub context: Context,
    /// The stable name, such as `PostCreated`.
    pub name: String,
    /// The schema version of the body.
    pub version: u32,
}

impl EventType {
    /// Parses `pulse.content.PostCreated.v1`.
    pub fn parse(raw: &str) -> Result<Self, EnvelopeError> {
        let bad = || EnvelopeError::Invalid { attribute: "type", value: raw.to_owned() };
        let mut parts = raw.split('.');
        let (Some("pulse"), Some(context), Some(name), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let context = Context::parse(context).ok_or_else(bad)?;
        let version = version.strip_prefix('v').and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        Ok(Self { context, name: name.to_owned(), version })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pulse.{}.{}.v{}", self.context, self.name, self.version)
    }
}

/// Why message headers are not a valid Pulse CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required attribute is absent.
    #[error("missing CloudEvents attribute {0}")]
    Missing(&'static str),
    /// An attribute has a value Pulse does not accept.
    #[error("invalid CloudEvents attribute {attribute}: {value:?}")]
    Invalid {
        /// The attribute.
        attribute: &'static str,
        /// The value found.
        value: String,
    },
}

/// Why an event was written and on whose behalf: carried from the HTTP request
/// (or the event that caused it) into the CloudEvents extensions and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Shared by everything one user action caused.
    pub correlation_id: String,
    /// The request or event that directly caused this one.
    pub causation_id: Option<String>,
    /// The user who acted; `None` for system events.
    pub actor: Option<UserId>,
}

impl Metadata {
    /// Metadata for a fresh action with a new correlation id.
    pub fn new(actor: Option<UserId>) -> Self {
        Self { correlation_id: Uuid::now_v7().to_string(), causation_id: None, actor }
    }

    /// Metadata for an event caused by an earlier one: same correlation, the
    /// earlier event's id as causation.
    pub fn caused_by(envelope: &Envelope, actor: Option<UserId>) -> Self {
        Self { correlation_id: envelope.correlation_id.clone(), causation_id: Some(envelope.id.to_string()), actor }
    }
}

/// The CloudEvents attributes of one stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `id`: a UUID, unique per event.
    pub id: Uuid,
    /// `source`: the service that wrote it, such as `/pulse/command-api`.
    pub source: String,
    /// `type`.
    pub event_type: EventType,
    /// `subject`: the aggregate address, such as `content.post.<id>`.
    pub subject: String,
    /// `time`: when it was decided.
    pub time: OffsetDateTime,
    /// `correlationid`.
    pub correlation_id: String,
    /// `causationid`.
    pub causation_id: Option<String>,
    /// `actor`.
    pub actor: Option<UserId>,
}

impl Envelope {
    /// The headers of the binary content mode, in a stable order.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let time = self.time.format(&Rfc3339).unwrap_or_default();
        let mut headers = vec![
            (header::SPEC_VERSION, SPEC_VERSION.to_owned()),
            (header::ID, self.id.to_string()),
            (header::SOURCE, encode(&self.source)),
            (header::TYPE, self.event_type.to_string()),
            (header::SUBJECT, encode(&self.subject)),
            (header::TIME, time),
            (header::CONTENT_TYPE, CONTENT_TYPE.to_owned()),
            (header::CORRELATION_ID, encode(&self.correlation_id)),
        ];
        if let Some(causation) = &self.causation_id {
            headers.push((header::CAUSATION_ID, encode(causation)));
        }
        if let Some(actor) = &self.actor {
            headers.push((header::ACTOR, actor.to_string()));
        }
        headers
    }

    /// Reads the attributes back from headers; `get` looks one up by name.
    pub fn from_headers<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Result<Self, EnvelopeError> {
        let required = |name: &'static str| get(name).ok_or(EnvelopeError::Missing(name));
        let invalid =
            |attribute: &'static str, value: &str| EnvelopeError::Invalid { attribute, value: value.to_owned() };
        let spec = required(header::SPEC_VERSION)?;
        if spec != SPEC_VERSION {
            return Err(invalid("specversion", spec));
        }
        let id = required(header::ID)?;
        let time = required(header::TIME)?;
        let actor = match get(header::ACTOR) {
            Some(raw) => Some(UserId::parse(raw).map_err(|_| invalid("actor", raw))?),
            None => None,
        };
        Ok(Self {
            id: Uuid::parse_str(id).map_err(|_| invalid("id", id))?,
            source: percent_decode(required(header::SOURCE)?),
            event_type: EventType::parse(required(header::TYPE)?)?,
            subject: percent_decode(required(header::SUBJECT)?),
            time: OffsetDateTime::parse(time, &Rfc3339).map_err(|_| invalid("time", time))?,
            correlation_id: percent_decode(required(header::CORRELATION_ID)?),
            causation_id: get(header::CAUSATION_ID).map(percent_decode),
            actor,
        })
    }
}

/// Percent-encodes what a NATS header value cannot carry as is (the binding's
/// rule: space, `"`, `%` and anything outside printable ASCII).
fn encode(value: &str) -> String {
    let safe = |b: u8| (b'!'..=b'~').contains(&b) && b != b'"' && b != b'%';
    if value.bytes().all(safe) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'!'..=b'~' if byte != b'"' && byte != b'%' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Reverses [`encode`]; a `%` not followed by two hex digits stays as it is.
pub(crate) fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            (bytes[i] == b'%').then(|| value.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample() -> Envelope {
        Envelope {
            id: Uuid::now_v7(),
            source: "/pulse/command-api".to_owned(),
            event_type: EventType { context: Context::Content, name: "PostCreated".to_owned(), version: 1 },
            subject: "content.post.0192f1c4-5a6b-7c8d-9e0f-112233445566".to_owned(),
            time: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            correlation_id: "req 42 \"ünï\"".to_owned(),
            causation_id: Some("abc%def".to_owned()),
            actor: Some(UserId::parse("ana").unwrap()),
        }
    }

    #[test]
    fn an_envelope_survives_the_header_round_trip() {
        let envelope = sample();
        let headers: HashMap<_, _> = envelope.to_headers().into_iter().collect();
        assert!(headers.values().all(|v| v.bytes().all(|b| (b'!'..=b'~').contains(&b))));
        let back = Envelope::from_headers(|name| headers.get(name).map(String::as_str)).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn event_types_carry_context_name_and_version() {
        let parsed = EventType::parse("pulse.users.UserRegistered.v2").unwrap();
        assert_eq!((parsed.context, parsed.name.as_str(), parsed.version), (Context::Users, "UserRegistered", 2));
        assert_eq!(parsed.to_string(), "pulse.users.UserRegistered.v2");
        for bad in ["pulse.users.UserRegistered", "acme.users.X.v1", "pulse.nope.X.v1", "pulse.users.X.vx"] {
            assert!(EventType::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn headers_missing_a_required_attribute_are_refused() {
        let headers: HashMap<_, _> = sample().to_headers().into_iter().filter(|(n, _)| *n != header::ID).collect();
        let result = Envelope::from_headers(|name| headers.get(name).map(String::as_str));
        assert_eq!(result, Err(EnvelopeError::Missing(header::ID)));
    }
}

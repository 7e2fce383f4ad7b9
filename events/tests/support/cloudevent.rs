//! A reader of the CloudEvents NATS binding (binary content mode) for the
//! `cloudevents-sdk`, written from the binding's rules and not from
//! `events::envelope`, so that a test reading Pulse's messages with it proves
//! what an outside consumer sees: `ce-` headers, percent-encoded values, the
//! data content type in `content-type`.

use async_nats::HeaderMap;
use cloudevents::event::SpecVersion;
use cloudevents::message::{
    BinaryDeserializer, BinarySerializer, Encoding, MessageAttributeValue, MessageDeserializer, Result,
    StructuredDeserializer, StructuredSerializer,
};

/// A NATS message (headers and body) carrying a CloudEvent.
pub struct NatsBinary<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
}

impl<'a> NatsBinary<'a> {
    /// Wraps a message's headers and body.
    pub fn new(headers: &'a HeaderMap, body: &'a [u8]) -> Self {
        Self { headers, body }
    }

    /// Reads it as a CloudEvent with the SDK's own deserialiser.
    pub fn into_event(self) -> Result<cloudevents::Event> {
        MessageDeserializer::into_event(self)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.as_str())
    }
}

impl BinaryDeserializer for NatsBinary<'_> {
    fn deserialize_binary<R: Sized, V: BinarySerializer<R>>(self, mut visitor: V) -> Result<R> {
        let spec = self.get("ce-specversion").ok_or(cloudevents::message::Error::WrongEncoding {})?;
        let spec = SpecVersion::try_from(spec)?;
        let attributes = spec.attribute_names();
        visitor = visitor.set_spec_version(spec)?;
        for (name, values) in self.headers.iter() {
            let name: &str = name.as_ref();
            let Some(attribute) = name.strip_prefix("ce-").filter(|a| *a != "specversion") else {
                continue;
            };
            for value in values {
                let value = MessageAttributeValue::String(percent_decode(value.as_str()));
                visitor = if attributes.contains(&attribute) {
                    visitor.set_attribute(attribute, value)?
                } else {
                    visitor.set_extension(attribute, value)?
                };
            }
        }
        if let Some(content_type) = self.get("content-type") {
            visitor =
                visitor.set_attribute("datacontenttype", MessageAttributeValue::String(content_type.to_owned()))?;
        }
        if self.body.is_empty() { visitor.end() } else { visitor.end_with_data(self.body.to_vec()) }
    }
}

// Pulse writes binary mode only; structured messages from other producers
// (content type `application/cloudevents+json`) are read too.
impl StructuredDeserializer for NatsBinary<'_> {
    fn deserialize_structured<R: Sized, V: StructuredSerializer<R>>(self, visitor: V) -> Result<R> {
        visitor.set_structured_event(self.body.to_vec())
    }
}

impl MessageDeserializer for NatsBinary<'_> {
    fn encoding(&self) -> Encoding {
        let structured = self.get("content-type").is_some_and(|t| t.starts_with("application/cloudevents"));
        if structured {
            Encoding::STRUCTURED
        } else if self.get("ce-specversion").is_some() {
            Encoding::BINARY
        } else {
            Encoding::UNKNOWN
        }
    }
}

/// Undoes the percent-encoding of a header value (`%` and two hex digits is
/// one byte); anything else is taken as it is.
fn percent_decode(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let escaped =
            tail.get(..2).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (first, escaped) {
            (b'%', Some(byte)) => {
                out.push(byte);
                rest = &tail[2..];
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

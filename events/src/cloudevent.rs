//! Stored messages as `cloudevents-sdk` events: what operators print with
//! `pulse events tail --format json`, and proof that any CloudEvents SDK can
//! read Pulse's streams in binary content mode.

use crate::envelope::{header, percent_decode};
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
    pub fn to_event(self) -> Result<cloudevents::Event> {
        MessageDeserializer::into_event(self)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.as_str())
    }
}

impl BinaryDeserializer for NatsBinary<'_> {
    fn deserialize_binary<R: Sized, V: BinarySerializer<R>>(self, mut visitor: V) -> Result<R> {
        let spec = self.get(header::SPEC_VERSION).ok_or(cloudevents::message::Error::WrongEncoding {})?;
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
        if let Some(content_type) = self.get(header::CONTENT_TYPE) {
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
        let structured = self.get(header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/cloudevents"));
        if structured {
            Encoding::STRUCTURED
        } else if self.get(header::SPEC_VERSION).is_some() {
            Encoding::BINARY
        } else {
            Encoding::UNKNOWN
        }
    }
}

//! Where an event sits in the log, and what an append expects and did.
//! A [`Position`] is the consistency token clients carry from a command to a
//! read that must see it.

use crate::catalog::Context;
use std::fmt;
use std::str::FromStr;

/// The version an append expects the aggregate to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Whatever it is; for events no decision depends on.
    Any,
    /// Exactly this version (the stream sequence of its last event); 0 means
    /// the aggregate has no events yet, which is how uniqueness is claimed.
    Version(u64),
}

/// Where an event sits in the log: its context's stream and sequence. Rendered
/// as `content:42`; this is the consistency token clients can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The stream.
    pub context: Context,
    /// The stream sequence.
    pub sequence: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.context, self.sequence)
    }
}

impl FromStr for Position {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let (context, sequence) = raw.split_once(':').ok_or_else(|| format!("{raw:?} is not <context>:<sequence>"))?;
        Ok(Self {
            context: Context::parse(context).ok_or_else(|| format!("unknown context {context:?}"))?,
            sequence: sequence.parse().map_err(|_| format!("{sequence:?} is not a sequence number"))?,
        })
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Where the event is.
    pub position: Position,
    /// True when the idempotency key had been used: nothing new was written
    /// and `position` is the first write's.
    pub duplicate: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn positions_render_and_parse_as_consistency_tokens() {
        let position = Position { context: Context::Content, sequence: 42 };
        assert_eq!(position.to_string(), "content:42");
        assert_eq!("content:42".parse(), Ok(position));
        for bad in ["content", "content:x", "nope:1", ":1"] {
            assert!(bad.parse::<Position>().is_err(), "{bad} accepted");
        }
    }
}

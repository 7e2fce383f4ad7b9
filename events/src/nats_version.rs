//! The oldest nats-server Pulse runs on, and the versions servers report.
//!
//! Owns: [`MIN_NATS_VERSION`], the one place the floor is written (the
//! services script reads it from this file too), and a parser and ordering of
//! the `X.Y.Z[-suffix]` versions a server sends in its `INFO` line.
//! Never touches: the network; [`crate::EventStore::connect`] does the check.

use std::cmp::Ordering;
use std::fmt;

/// The oldest nats-server Pulse supports. 2.11 brings pinned-client priority
/// groups, which let several projector processes share a consumer with one
/// reading at a time, in order. 2.10 brought `sync_interval` (which
/// `infra/nats/nats-server.production.conf` sets for durability); older
/// servers also load an aggregate more slowly the longer the stream grows.
pub const MIN_NATS_VERSION: NatsVersion = NatsVersion::release(2, 11, 0);

/// A nats-server version: `major.minor.patch`, with an optional pre-release
/// suffix (`2.11.0-RC.1`). Build metadata after `+` is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatsVersion {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
    /// What followed `-`, if anything.
    pub pre: Option<String>,
}

impl NatsVersion {
    /// A released version (no suffix).
    pub const fn release(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch, pre: None }
    }

    /// Reads a version as servers report it; a leading `v` is accepted.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || format!("{raw:?} is not a version of the form X.Y.Z[-suffix]");
        let trimmed = raw.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let without_build = trimmed.split_once('+').map_or(trimmed, |(version, _build)| version);
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_owned())),
            Some(_) => return Err(invalid()),
            None => (without_build, None),
        };
        let mut numbers = core.split('.').map(|part| {
            // `u64::from_str` accepts a leading `+`, which no version has.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<u64>().map_err(|_| invalid())
        });
        let (Some(major), Some(minor), Some(patch), None) =
            (numbers.next(), numbers.next(), numbers.next(), numbers.next())
        else {
            return Err(invalid());
        };
        Ok(Self { major: major?, minor: minor?, patch: patch?, pre })
    }
}

impl Ord for NatsVersion {
    /// Numbers first; a pre-release comes before its release (2.10.0-RC.1 <
    /// 2.10.0), so a release candidate of the floor is below the floor.
    /// Pre-releases of one version compare as text, which is enough here.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            }
        })
    }
}

impl PartialOrd for NatsVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for NatsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        match &self.pre {
            Some(pre) => write!(f, "-{pre}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Whether a server reporting `raw` meets the floor; `None` when `raw`
    /// does not parse.
    #[track_caller]
    fn check(raw: &str, supported: Option<bool>) {
        let parsed = NatsVersion::parse(raw).ok();
        assert_eq!(parsed.map(|v| v >= MIN_NATS_VERSION), supported, "{raw:?}");
    }

    #[test]
    fn servers_below_the_floor_are_refused_and_others_accepted() {
        check("2.9.10", Some(false));
        check("2.9.25", Some(false));
        check("1.4.1", Some(false));
        check("2.10.22", Some(false));
        check("2.11.0-RC.1", Some(false));
        check("2.11.0-beta.5", Some(false));
        check("2.11.0", Some(true));
        check("2.11.4", Some(true));
        check("2.12.0-RC.1", Some(true));
        check("2.15.1", Some(true));
        check("v2.15.1", Some(true));
        check("2.12.0+build.7", Some(true));
        check("3.0.0", Some(true));
        check("10.0.0", Some(true));
    }

    #[test]
    fn anything_but_three_numbers_and_a_suffix_is_not_a_version() {
        for bad in ["", "2", "2.10", "2.10.0.1", "2.x.0", "2..0", "2.10.0-", "+2.10.0", "2.+10.0", "two", "-1.0.0"] {
            check(bad, None);
        }
    }

    #[test]
    fn versions_order_by_number_then_release_after_pre_release() {
        let v = |raw| NatsVersion::parse(raw).unwrap();
        assert!(v("2.9.10") < v("2.10.0"), "numeric, not textual");
        assert!(v("2.10.0-RC.1") < v("2.10.0-RC.2"));
        assert!(v("2.10.0-RC.2") < v("2.10.0"));
        assert_eq!(v("2.10.0+abc"), v("2.10.0"));
    }

    #[test]
    fn a_version_prints_as_it_parses() {
        for raw in ["2.10.0", "2.11.0-RC.1"] {
            assert_eq!(NatsVersion::parse(raw).unwrap().to_string(), raw);
        }
        assert_eq!(MIN_NATS_VERSION.to_string(), "2.11.0");
    }
}

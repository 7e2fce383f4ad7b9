//! The notifier: decides who hears about what and records it as
//! `NotificationCreated` events, which the chat gateway pushes to the
//! recipient's sockets and the inbox lists; then delivers them by email
//! ([`email`]) and Web Push ([`push`]).
//!
//! Each part runs on the projectors' engine as a reactor (a shared durable
//! consumer per stream, a checkpoint in the read store, each event retried
//! until handled). The rules are `domain::notify::rules`; [`Notifier`] looks
//! up the facts they need (owners, mentioned handles, blocks, the recipient's
//! settings) and appends. Each notification's id derives from the event's
//! id, so an event delivered again appends nothing twice.
//!
//! Built so far: notifications of follows, likes, comments, mentions, RSVPs
//! to your event and moderation of your content, on the channels the
//! recipient's preferences allow (never a kind they muted); reminders
//! ([`reminders`]) and messages missed while away ([`missed`]), both fired
//! by timers; rate limits per recipient and channel ([`rate`]); email and
//! push held through the recipient's quiet hours.

mod delivery;
pub mod email;
mod error;
pub mod metrics;
pub mod missed;
mod notices;
mod notifier;
pub mod push;
pub mod rate;
pub mod reminders;
mod timers;
pub mod webpush;

pub use email::{EmailError, EmailSettings, Mailer};
pub use error::NotifyError;
pub use metrics::NotifierMetrics;
pub use missed::MissedMessages;
pub use notifier::Notifier;
pub use push::{PushError, PushSettings, Pusher};
pub use rate::{Limits, RateLimiter};
pub use reminders::Reminders;

//! Notification rules: who hears about what, what a user wants to hear
//! about, where their Web Push subscriptions are, which push endpoints Pulse
//! may call, when quiet hours hold a delivery, when reminders are due, how notifications are read, and how their delivery is retried.

pub mod delivery;
pub mod endpoint;
pub mod grouping;
pub mod inbox;
pub mod missed;
pub mod notification;
pub mod preferences;
pub mod quiet;
pub mod reminder;
pub mod rules;

pub use delivery::{Delivery, Failure, RetryPolicy};
pub use endpoint::{check_push_endpoint, is_internal_address, may_push_to};
pub use inbox::{InboxMark, InboxRejection, ReadAll};
pub use notification::{Notification, ReadOne};
pub use preferences::{NotifySettings, NotifySettingsCommand, NotifySettingsRejection, parse_subscription};

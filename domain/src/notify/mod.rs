//! Notification rules: what a user wants to hear about and where their Web
//! Push subscriptions are.

pub mod preferences;

pub use preferences::{NotifySettings, NotifySettingsCommand, NotifySettingsRejection, parse_subscription};

//! Notification rules: what a user wants to hear about, where their Web
//! Push subscriptions are, and which push endpoints Pulse may call.

pub mod endpoint;
pub mod preferences;
pub mod rules;

pub use endpoint::{check_push_endpoint, is_internal_address};
pub use preferences::{NotifySettings, NotifySettingsCommand, NotifySettingsRejection, parse_subscription};

//! A user's notification preferences and Web Push subscriptions.

use super::delivery::{EMAIL_BY_DEFAULT, PUSH_BY_DEFAULT};
use super::endpoint::check_push_endpoint;
use crate::input::InvalidInput;
use events::catalog::NotificationEvent;
use events::catalog::notifications::{
    Channel, Mutable, NotificationKind, NotificationsMuted, NotificationsUnmuted, Preferences, PreferencesChanged,
    PushSubscription, PushSubscriptionAdded, PushSubscriptionRemoved,
};
use events::ids::UserId;
use std::collections::{BTreeMap, BTreeSet};

/// Most push subscriptions (browsers, devices) per user.
pub const MAX_SUBSCRIPTIONS: usize = 10;
/// Most posts and conversations one user silences.
pub const MAX_MUTES: usize = 1000;

/// What the rules need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySettings {
    /// The preferences now.
    pub preferences: Preferences,
    /// Subscriptions by endpoint.
    pub subscriptions: BTreeMap<String, PushSubscription>,
    /// Posts and conversations silenced.
    pub muted: BTreeSet<Mutable>,
}

impl NotifySettings {
    /// Whether the user wants to hear of `kind` at all (a muted kind reaches
    /// no channel, the inbox included).
    pub fn wants(&self, kind: NotificationKind) -> bool {
        !self.preferences.muted.contains(&kind)
    }

    /// Whether the user silenced what a notification is about.
    pub fn silenced(&self, about: Option<Mutable>) -> bool {
        about.is_some_and(|about| self.muted.contains(&about))
    }

    /// The channels a notification of `kind` about `about` goes out on: none
    /// when the kind is muted or what it is about silenced; else in-app,
    /// email for the kinds that go by email (the user's `email_kinds`, else
    /// [`EMAIL_BY_DEFAULT`]) while the user has email on, and Web Push for
    /// those that go by push (`push_kinds`, else [`PUSH_BY_DEFAULT`]) while
    /// push is on and a browser is subscribed.
    pub fn channels(&self, kind: NotificationKind, about: Option<Mutable>) -> Vec<Channel> {
        if !self.wants(kind) || self.silenced(about) {
            return Vec::new();
        }
        let chosen = |choice: &Option<Vec<NotificationKind>>, defaults: &[NotificationKind]| {
            choice.as_deref().unwrap_or(defaults).contains(&kind)
        };
        let mut channels = vec![Channel::InApp];
        if self.preferences.email && chosen(&self.preferences.email_kinds, EMAIL_BY_DEFAULT) {
            channels.push(Channel::Email);
        }
        let subscribed = !self.subscriptions.is_empty();
        if self.preferences.push && subscribed && chosen(&self.preferences.push_kinds, PUSH_BY_DEFAULT) {
            channels.push(Channel::Push);
        }
        channels
    }
}

/// What a user asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifySettingsCommand {
    /// Replace the preferences.
    ChangePreferences {
        /// The caller.
        user: UserId,
        /// All preferences after the change.
        preferences: Preferences,
    },
    /// Register a browser's push subscription.
    AddPushSubscription {
        /// The caller.
        user: UserId,
        /// From [`parse_subscription`].
        subscription: PushSubscription,
    },
    /// Turn email notifications off (an unsubscribe link), whatever else
    /// changed meanwhile.
    TurnEmailOff {
        /// Whose.
        user: UserId,
    },
    /// Silence a post or a conversation.
    Mute {
        /// The caller.
        user: UserId,
        /// What.
        target: Mutable,
    },
    /// Hear of a post or a conversation again.
    Unmute {
        /// The caller.
        user: UserId,
        /// What.
        target: Mutable,
    },
    /// Forget a push subscription.
    RemovePushSubscription {
        /// The caller.
        user: UserId,
        /// Its endpoint.
        endpoint: String,
    },
}

/// Why a command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifySettingsRejection {
    /// Over the per-user limit.
    #[error("At most 10 push subscriptions per user; remove one first.")]
    TooManySubscriptions,
    /// Over the per-user limit.
    #[error("At most 1000 posts and conversations can be muted; unmute one first.")]
    TooManyMutes,
}

/// Checks a browser's PushSubscription: an https endpoint on a public host
/// ([`check_push_endpoint`]) and base64url keys (`keys.p256dh`, 80 to 100
/// characters; `keys.auth`, 16 to 32).
pub fn parse_subscription(endpoint: &str, p256dh: &str, auth: &str) -> Result<PushSubscription, InvalidInput> {
    let endpoint = check_push_endpoint(endpoint)?;
    Ok(PushSubscription {
        endpoint,
        p256dh: base64url("keys.p256dh", p256dh, 80, 100)?,
        auth: base64url("keys.auth", auth, 16, 32)?,
    })
}

fn base64url(field: &str, raw: &str, min: usize, max: usize) -> Result<String, InvalidInput> {
    let digits = raw.trim_end_matches('=');
    let valid =
        (min..=max).contains(&raw.len()) && digits.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid
        .then(|| raw.to_owned())
        .ok_or_else(|| InvalidInput::new(field, format!("must be {min} to {max} characters of base64url")))
}

/// Decides a command; a change to what already is appends nothing.
pub fn decide(
    state: &NotifySettings,
    command: NotifySettingsCommand,
) -> Result<Vec<NotificationEvent>, NotifySettingsRejection> {
    use NotifySettingsCommand as C;
    match command {
        C::ChangePreferences { preferences, .. } if preferences == state.preferences => Ok(vec![]),
        C::ChangePreferences { user, preferences } => Ok(vec![PreferencesChanged { user, preferences }.into()]),
        C::TurnEmailOff { .. } if !state.preferences.email => Ok(vec![]),
        C::TurnEmailOff { user } => {
            let preferences = Preferences { email: false, ..state.preferences.clone() };
            Ok(vec![PreferencesChanged { user, preferences }.into()])
        }
        C::AddPushSubscription { subscription, .. }
            if state.subscriptions.get(&subscription.endpoint) == Some(&subscription) =>
        {
            Ok(vec![])
        }
        C::AddPushSubscription { subscription, .. }
            if !state.subscriptions.contains_key(&subscription.endpoint)
                && state.subscriptions.len() >= MAX_SUBSCRIPTIONS =>
        {
            Err(NotifySettingsRejection::TooManySubscriptions)
        }
        C::AddPushSubscription { user, subscription } => Ok(vec![PushSubscriptionAdded { user, subscription }.into()]),
        C::Mute { target, .. } if state.muted.contains(&target) => Ok(vec![]),
        C::Mute { .. } if state.muted.len() >= MAX_MUTES => Err(NotifySettingsRejection::TooManyMutes),
        C::Mute { user, target } => Ok(vec![NotificationsMuted { user, target }.into()]),
        C::Unmute { target, .. } if !state.muted.contains(&target) => Ok(vec![]),
        C::Unmute { user, target } => Ok(vec![NotificationsUnmuted { user, target }.into()]),
        C::RemovePushSubscription { endpoint, .. } if !state.subscriptions.contains_key(&endpoint) => Ok(vec![]),
        C::RemovePushSubscription { user, endpoint } => Ok(vec![PushSubscriptionRemoved { user, endpoint }.into()]),
    }
}

/// Folds one event into the settings.
pub fn evolve(mut state: NotifySettings, event: &NotificationEvent) -> NotifySettings {
    match event {
        NotificationEvent::PreferencesChanged(e) => state.preferences = e.preferences.clone(),
        NotificationEvent::PushSubscriptionAdded(e) => {
            state.subscriptions.insert(e.subscription.endpoint.clone(), e.subscription.clone());
        }
        NotificationEvent::PushSubscriptionRemoved(e) => {
            state.subscriptions.remove(&e.endpoint);
        }
        NotificationEvent::NotificationsMuted(e) => {
            state.muted.insert(e.target);
        }
        NotificationEvent::NotificationsUnmuted(e) => {
            state.muted.remove(&e.target);
        }
        _ => {}
    }
    state
}

crate::decider::decider!(NotifySettings, NotifySettingsCommand, NotificationEvent, NotifySettingsRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn subscription(n: usize) -> PushSubscription {
        parse_subscription(&format!("https://push.example.org/{n}"), &"B".repeat(87), &"a".repeat(22)).unwrap()
    }

    fn add(n: usize) -> NotifySettingsCommand {
        NotifySettingsCommand::AddPushSubscription { user: ana(), subscription: subscription(n) }
    }

    fn with(commands: Vec<NotifySettingsCommand>) -> NotifySettings {
        commands.into_iter().fold(NotifySettings::default(), |state, command| {
            decide(&state, command).unwrap().iter().fold(state, evolve)
        })
    }

    #[test]
    fn the_same_preferences_or_subscription_again_append_nothing() {
        let same = NotifySettingsCommand::ChangePreferences { user: ana(), preferences: Preferences::default() };
        assert_eq!(decide(&NotifySettings::default(), same), Ok(vec![]));
        let muted = Preferences { muted: vec![NotificationKind::PostLiked], ..Preferences::default() };
        let change = NotifySettingsCommand::ChangePreferences { user: ana(), preferences: muted };
        assert_eq!(decide(&NotifySettings::default(), change).unwrap().len(), 1);
        assert_eq!(decide(&with(vec![add(1)]), add(1)), Ok(vec![]));
        let remove = NotifySettingsCommand::RemovePushSubscription {
            user: ana(),
            endpoint: "https://push.example.org/9".into(),
        };
        assert_eq!(decide(&with(vec![add(1)]), remove), Ok(vec![]));
    }

    #[test]
    fn a_muted_kind_is_not_wanted_and_the_others_are() {
        let muted = Preferences { muted: vec![NotificationKind::PostLiked], ..Preferences::default() };
        let settings = with(vec![NotifySettingsCommand::ChangePreferences { user: ana(), preferences: muted }]);
        assert!(!settings.wants(NotificationKind::PostLiked));
        assert!(settings.wants(NotificationKind::NewFollower));
        assert!(NotifySettings::default().wants(NotificationKind::PostLiked));
    }

    #[test]
    fn email_goes_out_for_the_kinds_that_need_it_while_email_is_on() {
        let on = NotifySettings::default();
        assert_eq!(on.channels(NotificationKind::Mentioned, None), [Channel::InApp, Channel::Email]);
        assert_eq!(on.channels(NotificationKind::PostLiked, None), [Channel::InApp]);
        let off = Preferences { email: false, muted: vec![NotificationKind::Moderation], ..Preferences::default() };
        let off = with(vec![NotifySettingsCommand::ChangePreferences { user: ana(), preferences: off }]);
        assert_eq!(off.channels(NotificationKind::Mentioned, None), [Channel::InApp]);
        assert!(off.channels(NotificationKind::Moderation, None).is_empty());
    }

    #[test]
    fn push_goes_out_while_push_is_on_and_a_browser_is_subscribed() {
        assert_eq!(NotifySettings::default().channels(NotificationKind::EventRsvp, None), [Channel::InApp]);
        let subscribed = with(vec![add(1)]);
        assert_eq!(subscribed.channels(NotificationKind::EventRsvp, None), [Channel::InApp, Channel::Push]);
        assert_eq!(subscribed.channels(NotificationKind::PostLiked, None), [Channel::InApp]);
        let off = Preferences { push: false, ..Preferences::default() };
        let off = with(vec![add(1), NotifySettingsCommand::ChangePreferences { user: ana(), preferences: off }]);
        assert_eq!(off.channels(NotificationKind::EventRsvp, None), [Channel::InApp]);
    }

    #[test]
    fn turning_email_off_keeps_the_other_preferences_and_twice_changes_nothing() {
        let muted = Preferences { muted: vec![NotificationKind::PostLiked], ..Preferences::default() };
        let settings = with(vec![NotifySettingsCommand::ChangePreferences { user: ana(), preferences: muted }]);
        let off = with(vec![
            NotifySettingsCommand::ChangePreferences { user: ana(), preferences: settings.preferences.clone() },
            NotifySettingsCommand::TurnEmailOff { user: ana() },
        ]);
        assert_eq!(off.preferences, Preferences { email: false, ..settings.preferences });
        assert_eq!(decide(&off, NotifySettingsCommand::TurnEmailOff { user: ana() }), Ok(vec![]));
    }

    #[test]
    fn a_user_chooses_the_kinds_per_channel_and_silences_a_post() {
        let post = Mutable::Post(events::ids::PostId(uuid::Uuid::nil()));
        let chosen = Preferences { email_kinds: Some(vec![NotificationKind::PostLiked]), ..Preferences::default() };
        let settings = with(vec![
            NotifySettingsCommand::ChangePreferences { user: ana(), preferences: chosen },
            NotifySettingsCommand::Mute { user: ana(), target: post },
        ]);
        assert_eq!(settings.channels(NotificationKind::PostLiked, None), [Channel::InApp, Channel::Email]);
        assert_eq!(settings.channels(NotificationKind::Mentioned, None), [Channel::InApp]);
        assert!(settings.channels(NotificationKind::PostLiked, Some(post)).is_empty(), "silenced");
        assert_eq!(decide(&settings, NotifySettingsCommand::Mute { user: ana(), target: post }), Ok(vec![]));
        let heard = with(vec![
            NotifySettingsCommand::Mute { user: ana(), target: post },
            NotifySettingsCommand::Unmute { user: ana(), target: post },
        ]);
        assert_eq!(heard.channels(NotificationKind::PostLiked, Some(post)), [Channel::InApp]);
    }

    #[test]
    fn a_user_has_at_most_ten_subscriptions() {
        let full = with((0..MAX_SUBSCRIPTIONS).map(add).collect());
        assert_eq!(decide(&full, add(99)), Err(NotifySettingsRejection::TooManySubscriptions));
        let renewed = PushSubscription { auth: "b".repeat(22), ..subscription(3) };
        let renew = NotifySettingsCommand::AddPushSubscription { user: ana(), subscription: renewed };
        assert_eq!(decide(&full, renew).unwrap().len(), 1, "new keys for a known endpoint are not a new subscription");
    }

    #[test]
    fn subscriptions_are_checked_naming_the_field() {
        let field = |e: &str, p: &str, a: &str| parse_subscription(e, p, a).unwrap_err().field;
        assert_eq!(field("http://push.example.org/1", &"B".repeat(87), &"a".repeat(22)), "endpoint");
        assert_eq!(field("https://push.example.org/1", "short", &"a".repeat(22)), "keys.p256dh");
        assert_eq!(field("https://push.example.org/1", &"B".repeat(87), "not base64!!not base64"), "keys.auth");
        assert_eq!(field("https://192.168.0.10/1", &"B".repeat(87), &"a".repeat(22)), "endpoint");
    }
}

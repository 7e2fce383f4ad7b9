//! Users context: identities, profiles, settings, follows and blocks.
//!
//! Subjects: `users.user.<user>` (profile and settings), `users.handle.<handle>`
//! (the claim that makes a handle unique), `users.follow.<follower>.<followee>`,
//! `users.block.<blocker>.<blocked>`. A follow or block is its own aggregate, so
//! "does A block B?" is one direct get, not a scan of A's history.

use super::{Context, catalog};
use crate::ids::{Handle, UserId};
use serde::{Deserialize, Serialize};

catalog! {
    /// Events of the users context.
    UserEvent, Context::Users, {
        HandleClaimed = 1,
        UserRegistered = 2,
        ProfileUpdated = 2,
        SettingsChanged = 1,
        Followed = 1,
        Unfollowed = 1,
        UserBlocked = 1,
        UserUnblocked = 1,
    }
}

/// A handle was taken by a user. Appended with expected sequence 0 on the handle's
/// subject, so the log itself refuses a second claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandleClaimed {
    /// The claimed handle.
    pub handle: Handle,
    /// Who owns it now.
    pub user: UserId,
}

/// A user was seen for the first time. Version 2 renamed `name` to
/// `display_name` and added `email`; see `upcast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    /// The new user.
    pub user: UserId,
    /// Their unique handle.
    pub handle: Handle,
    /// The name shown to others.
    pub display_name: String,
    /// Where email notifications go, from the identity token.
    pub email: Option<String>,
}

/// The public profile, as it is after the change (not a patch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The name shown to others.
    pub display_name: String,
    /// A short self-description.
    pub bio: Option<String>,
    /// An https URL to an image.
    pub avatar_url: Option<String>,
    /// Free text, such as a campus or city.
    pub location: Option<String>,
    /// An http(s) URL.
    pub website: Option<String>,
}

/// A user changed their public profile. Version 2 added `handle`; see `upcast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdated {
    /// Whose profile.
    pub user: UserId,
    /// Their handle when the profile changed: carried so a read model can
    /// index the handle beside the new display name without reading anything.
    /// Always set since v2; `None` for updates written as v1.
    pub handle: Option<Handle>,
    /// The whole profile after the change.
    pub profile: Profile,
}

/// Who may start a direct conversation with a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePolicy {
    /// Anyone not blocked.
    #[default]
    Everyone,
    /// Only people the user follows.
    Following,
    /// Nobody.
    Nobody,
}

/// Account settings, as they are after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Whether others see when the user is online.
    pub show_presence: bool,
    /// Whether others see read receipts from the user.
    pub read_receipts: bool,
    /// Who may message the user.
    pub messages_from: MessagePolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self { show_presence: true, read_receipts: true, messages_from: MessagePolicy::Everyone }
    }
}

/// A user changed their settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsChanged {
    /// Whose settings.
    pub user: UserId,
    /// All settings after the change.
    pub settings: Settings,
}

/// `follower` now follows `followee`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Followed {
    /// Who follows.
    pub follower: UserId,
    /// Who is followed.
    pub followee: UserId,
}

/// `follower` no longer follows `followee`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unfollowed {
    /// Who stopped following.
    pub follower: UserId,
    /// Who is no longer followed.
    pub followee: UserId,
}

/// `blocker` blocked `blocked`: no follows, comments, likes, RSVPs or messages
/// from `blocked` towards `blocker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBlocked {
    /// Who blocks.
    pub blocker: UserId,
    /// Who is blocked.
    pub blocked: UserId,
}

/// `blocker` lifted a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUnblocked {
    /// Who lifted the block.
    pub blocker: UserId,
    /// Who is no longer blocked.
    pub blocked: UserId,
}

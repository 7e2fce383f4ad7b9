//! A user: registered once (from the identity token), then the owner of a
//! public profile and account settings.

use crate::input::{self, InvalidInput};
use events::catalog::UserEvent;
use events::catalog::users::{Profile, ProfileUpdated, Settings, SettingsChanged, UserRegistered};
use events::ids::{Handle, UserId};

/// What the rules need to know about a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum User {
    /// Never seen.
    #[default]
    Unregistered,
    /// Known, with their current profile and settings.
    Registered {
        /// Their handle.
        handle: Handle,
        /// Their public profile.
        profile: Profile,
        /// Their settings.
        settings: Settings,
        /// Where email notifications go: the token's email at registration.
        email: Option<String>,
    },
}

/// What a user asks of their account.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Register on first sight; nothing to do when already registered.
    Register {
        /// The user (token `sub`).
        user: UserId,
        /// The handle they claimed.
        handle: Handle,
        /// From the token's `name`, email or id: [`DisplayName::from_identity`].
        display_name: DisplayName,
        /// From the token's `email`.
        email: Option<String>,
    },
    /// Change some profile fields.
    UpdateProfile {
        /// The user.
        user: UserId,
        /// What changes.
        changes: ProfileChanges,
    },
    /// Replace the settings.
    ChangeSettings {
        /// The user.
        user: UserId,
        /// The settings after the change.
        settings: Settings,
    },
}

/// Why an account command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRejection {
    /// The caller has not registered yet.
    #[error("Register first (POST /users/me).")]
    NotRegistered,
}

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 50;

/// A display name: 1 to 50 characters on one line, in NFC, with none of the
/// characters [`input::text`] refuses. Only [`DisplayName::parse`] makes one,
/// whatever the source: the profile, the token's `name`, an email's local
/// part, the user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks a raw display name (field `display_name`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        input::text("display_name", raw, 1, MAX_DISPLAY_NAME_CHARS, false).map(Self)
    }

    /// The name a new user starts with: the identity's `name`, else the local
    /// part of their `email`, else their user id (cut to the longest name),
    /// each taken only when it parses. An identity provider's name is as much
    /// user input as a profile edit: a name with a bidi override or a line
    /// break is skipped, not stored.
    pub fn from_identity(name: Option<&str>, email: Option<&str>, user: &UserId) -> Self {
        let local_part = email.and_then(|e| e.split_once('@')).map(|(local, _)| local);
        let id: String = user.as_str().chars().take(MAX_DISPLAY_NAME_CHARS).collect();
        [name, local_part, Some(id.as_str())]
            .into_iter()
            .flatten()
            .find_map(|raw| Self::parse(raw).ok())
            // A user id is 1 to 64 of `A-Z a-z 0-9 _ -`, so its first 50
            // always parse; the literal only keeps this total without a panic.
            .unwrap_or_else(|| Self("user".to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Profile fields as sent: absent leaves a field alone, `""` clears an
/// optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawProfileChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New bio.
    pub bio: Option<String>,
    /// New avatar URL.
    pub avatar_url: Option<String>,
    /// New location.
    pub location: Option<String>,
    /// New website.
    pub website: Option<String>,
}

/// Checked profile changes: `None` leaves a field alone; for optional
/// fields, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    display_name: Option<DisplayName>,
    bio: Option<Option<String>>,
    avatar_url: Option<Option<String>>,
    location: Option<Option<String>>,
    website: Option<Option<String>>,
}

impl ProfileChanges {
    /// Checks each field sent: display name 1 to 50 characters, bio up to 300
    /// (several lines), location up to 100, avatar an https URL, website an
    /// http(s) URL. Errors name the field.
    pub fn parse(raw: RawProfileChanges) -> Result<Self, InvalidInput> {
        let optional = |field: &str, value: Option<String>, max: usize, multiline: bool| match value {
            None => Ok(None),
            Some(v) => input::optional_text(field, Some(&v), max, multiline).map(Some),
        };
        let link = |field: &str, value: Option<String>, allow_http: bool| match value {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(Some(None)),
            Some(v) => input::url(field, &v, allow_http).map(|url| Some(Some(url))),
        };
        Ok(Self {
            display_name: raw.display_name.map(|name| DisplayName::parse(&name)).transpose()?,
            bio: optional("bio", raw.bio, 300, true)?,
            location: optional("location", raw.location, 100, false)?,
            avatar_url: link("avatar_url", raw.avatar_url, false)?,
            website: link("website", raw.website, true)?,
        })
    }

    fn apply(&self, profile: &Profile) -> Profile {
        let pick = |change: &Option<Option<String>>, current: &Option<String>| {
            change.clone().unwrap_or_else(|| current.clone())
        };
        Profile {
            display_name: self
                .display_name
                .clone()
                .map(DisplayName::into_string)
                .unwrap_or_else(|| profile.display_name.clone()),
            bio: pick(&self.bio, &profile.bio),
            avatar_url: pick(&self.avatar_url, &profile.avatar_url),
            location: pick(&self.location, &profile.location),
            website: pick(&self.website, &profile.website),
        }
    }
}

/// Decides what an account command does.
pub fn decide(user: &User, command: UserCommand) -> Result<Vec<UserEvent>, UserRejection> {
    match (user, command) {
        (User::Unregistered, UserCommand::Register { user, handle, display_name, email }) => {
            Ok(vec![UserRegistered { user, handle, display_name: display_name.into_string(), email }.into()])
        }
        (User::Registered { .. }, UserCommand::Register { .. }) => Ok(vec![]),
        (User::Unregistered, _) => Err(UserRejection::NotRegistered),
        (User::Registered { handle, profile, .. }, UserCommand::UpdateProfile { user, changes }) => {
            let updated = changes.apply(profile);
            if updated == *profile {
                return Ok(vec![]);
            }
            // The handle rides along so the read side can index it with the
            // new display name without reading (event-carried state).
            Ok(vec![ProfileUpdated { user, handle: Some(handle.clone()), profile: updated }.into()])
        }
        (User::Registered { settings: current, .. }, UserCommand::ChangeSettings { user, settings }) => {
            Ok(if settings == *current { vec![] } else { vec![SettingsChanged { user, settings }.into()] })
        }
    }
}

/// Folds one event into the user.
pub fn evolve(user: User, event: &UserEvent) -> User {
    match (user, event) {
        (_, UserEvent::UserRegistered(e)) => User::Registered {
            handle: e.handle.clone(),
            profile: Profile { display_name: e.display_name.clone(), ..Profile::default() },
            settings: Settings::default(),
            email: e.email.clone(),
        },
        (User::Registered { handle, settings, email, .. }, UserEvent::ProfileUpdated(e)) => {
            User::Registered { handle, profile: e.profile.clone(), settings, email }
        }
        (User::Registered { handle, profile, email, .. }, UserEvent::SettingsChanged(e)) => {
            User::Registered { handle, profile, settings: e.settings.clone(), email }
        }
        (user, _) => user,
    }
}

crate::decider::decider!(User, UserCommand, UserEvent, UserRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use events::catalog::users::MessagePolicy;

    fn ana() -> UserId {
        UserId::parse("ana").unwrap()
    }

    fn registered() -> UserEvent {
        UserRegistered { user: ana(), handle: Handle::parse("ana").unwrap(), display_name: "Ana".into(), email: None }
            .into()
    }

    fn given(events: &[UserEvent]) -> User {
        <User as crate::Decider>::fold(events)
    }

    fn changes(raw: RawProfileChanges) -> ProfileChanges {
        ProfileChanges::parse(raw).unwrap()
    }

    #[test]
    fn registering_twice_registers_once() {
        let register = UserCommand::Register {
            user: ana(),
            handle: Handle::parse("ana").unwrap(),
            display_name: DisplayName::parse("Ana").unwrap(),
            email: None,
        };
        assert_eq!(decide(&given(&[]), register.clone()), Ok(vec![registered()]));
        assert_eq!(decide(&given(&[registered()]), register), Ok(vec![]));
    }

    #[test]
    fn nothing_changes_before_registration() {
        let update = UserCommand::UpdateProfile { user: ana(), changes: ProfileChanges::default() };
        assert_eq!(decide(&given(&[]), update), Err(UserRejection::NotRegistered));
    }

    #[test]
    fn a_profile_update_carries_the_whole_profile_and_empty_clears_a_field() {
        let bio = RawProfileChanges {
            bio: Some("Rust and coffee".into()),
            website: Some("https://ana.dev".into()),
            ..Default::default()
        };
        let first =
            decide(&given(&[registered()]), UserCommand::UpdateProfile { user: ana(), changes: changes(bio) }).unwrap();
        let UserEvent::ProfileUpdated(updated) = &first[0] else { panic!("{first:?}") };
        assert_eq!(updated.profile.display_name, "Ana");
        assert_eq!(updated.handle, Some(Handle::parse("ana").unwrap()), "v2 carries the handle");
        assert_eq!(updated.profile.bio.as_deref(), Some("Rust and coffee"));
        let clear = RawProfileChanges { bio: Some(String::new()), ..Default::default() };
        let after = decide(
            &given(&[registered(), first[0].clone()]),
            UserCommand::UpdateProfile { user: ana(), changes: changes(clear) },
        )
        .unwrap();
        let UserEvent::ProfileUpdated(cleared) = &after[0] else { panic!("{after:?}") };
        assert_eq!((cleared.profile.bio.clone(), cleared.profile.website.as_deref()), (None, Some("https://ana.dev")));
    }

    #[test]
    fn an_update_that_changes_nothing_appends_nothing() {
        let same = RawProfileChanges { display_name: Some("Ana".into()), ..Default::default() };
        assert_eq!(
            decide(&given(&[registered()]), UserCommand::UpdateProfile { user: ana(), changes: changes(same) }),
            Ok(vec![])
        );
        let settings = UserCommand::ChangeSettings { user: ana(), settings: Settings::default() };
        assert_eq!(decide(&given(&[registered()]), settings), Ok(vec![]));
        let quiet = Settings { messages_from: MessagePolicy::Nobody, ..Settings::default() };
        assert_eq!(
            decide(&given(&[registered()]), UserCommand::ChangeSettings { user: ana(), settings: quiet })
                .unwrap()
                .len(),
            1
        );
    }

    #[track_caller]
    fn starts_as(name: Option<&str>, email: Option<&str>, user: &str, expected: &str) {
        let user = UserId::parse(user).unwrap();
        assert_eq!(DisplayName::from_identity(name, email, &user).as_str(), expected, "{name:?} {email:?}");
    }

    #[test]
    fn a_new_users_name_falls_back_from_token_name_to_email_to_id_skipping_invalid_ones() {
        starts_as(Some("Ana Lima"), Some("ana@example.org"), "u1", "Ana Lima");
        starts_as(None, Some("ana@example.org"), "u1", "ana");
        starts_as(Some("  "), Some("ana@example.org"), "u1", "ana");
        starts_as(Some("evil\u{202E}gnp.exe"), Some("ana@example.org"), "u1", "ana");
        starts_as(Some("two\nlines"), Some("ana@example.org"), "u1", "ana");
        starts_as(Some(&"x".repeat(51)), None, "u1", "u1");
        starts_as(None, Some("\u{202E}ana@example.org"), "u1", "u1");
        starts_as(None, Some("@example.org"), "u1", "u1");
        starts_as(None, Some("line\nbreak@example.org"), "u1", "u1");
        starts_as(None, Some("not an email"), "u1", "u1");
        starts_as(None, Some("\u{3164}@example.org"), "github_12345", "github_12345");
        starts_as(None, None, &"a".repeat(64), &"a".repeat(50));
        starts_as(Some("Jose\u{301}"), None, "u1", "Jos\u{E9}");
    }

    #[test]
    fn profile_fields_are_checked_and_named() {
        let field = |raw: RawProfileChanges| ProfileChanges::parse(raw).unwrap_err().field;
        assert_eq!(
            field(RawProfileChanges { display_name: Some(String::new()), ..Default::default() }),
            "display_name"
        );
        assert_eq!(field(RawProfileChanges { bio: Some("x".repeat(301)), ..Default::default() }), "bio");
        assert_eq!(
            field(RawProfileChanges { avatar_url: Some("http://insecure/a.png".into()), ..Default::default() }),
            "avatar_url"
        );
        assert_eq!(
            field(RawProfileChanges { website: Some("javascript:alert(1)".into()), ..Default::default() }),
            "website"
        );
        assert_eq!(field(RawProfileChanges { location: Some("a\nb".into()), ..Default::default() }), "location");
    }
}

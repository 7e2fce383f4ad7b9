//! A conversation's membership: direct (two people, one conversation per
//! pair) or a group with a title.

use crate::input::{self, InvalidInput};
use events::catalog::ChatEvent;
use events::catalog::chat::{ConversationKind, ConversationStarted, MemberLeft, MembersAdded};
use events::ids::{ConversationId, UserId};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Most members of a group.
pub const MAX_GROUP_MEMBERS: usize = 256;

/// Most people one request may name to start or join a group: the caller is
/// in the group too (who starts it, or a member adding people). A longer list
/// can never fit, so the caller refuses it with [`ConversationRejection::GroupTooLarge`]
/// before looking up a fact (blocks, message policy) per person.
pub const MAX_NAMED_MEMBERS: usize = MAX_GROUP_MEMBERS - 1;

/// Namespace of direct conversation ids. Part of the event contract: the id of
/// the direct conversation of two users is the UUID v5 of their sorted ids
/// under it, so both find the same one.
pub const DIRECT_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_2d4e_8b7a_4c39_9e21_d3a0_6b8f_c417);

/// The one direct conversation of two users, whoever starts it.
pub fn direct_conversation_id(a: &UserId, b: &UserId) -> ConversationId {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    ConversationId(Uuid::new_v5(&DIRECT_NAMESPACE, format!("{first}\n{second}").as_bytes()))
}

/// A group's title: 1 to 80 characters on one line. Only `parse` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    /// Checks a raw title (field `title`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        input::text("title", raw, 1, 80, false).map(Self)
    }
}

/// What the rules need to know about a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Conversation {
    /// Never started.
    #[default]
    Absent,
    /// Started, with its members now.
    Active {
        /// Its id.
        id: ConversationId,
        /// Direct or group.
        kind: ConversationKind,
        /// Who is in it.
        members: BTreeSet<UserId>,
        /// Who started it.
        started_by: UserId,
        /// Who left and was not added back since.
        left: BTreeSet<UserId>,
    },
}

impl Conversation {
    /// Whether `user` is in the conversation.
    pub fn is_member(&self, user: &UserId) -> bool {
        matches!(self, Conversation::Active { members, .. } if members.contains(user))
    }
}

/// What a user asks of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationCommand {
    /// Start (or find) the direct conversation with `with`.
    StartDirect {
        /// Its id: [`direct_conversation_id`].
        conversation: ConversationId,
        /// The caller.
        by: UserId,
        /// The other person.
        with: UserId,
        /// Whether `with` accepts messages from `by`: no block either way, and
        /// their message policy allows it (an outside fact).
        may_message: bool,
    },
    /// Start a group.
    StartGroup {
        /// Its id.
        conversation: ConversationId,
        /// The caller, who becomes a member.
        by: UserId,
        /// The others.
        members: Vec<UserId>,
        /// Its title.
        title: GroupTitle,
        /// Of the members, those who do not accept messages from the caller
        /// (an outside fact: the rule of a direct conversation).
        refused: Vec<UserId>,
    },
    /// Add people to a group.
    AddMembers {
        /// The caller, a member.
        by: UserId,
        /// Who to add.
        members: Vec<UserId>,
        /// Of those, who do not accept messages from the caller (an outside
        /// fact: the rule of a direct conversation).
        refused: Vec<UserId>,
    },
    /// Leave a group.
    Leave {
        /// The caller.
        member: UserId,
    },
}

/// Why a conversation command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationRejection {
    /// No such conversation.
    #[error("There is no such conversation.")]
    NoSuchConversation,
    /// The id is taken.
    #[error("A conversation with this id already exists.")]
    AlreadyExists,
    /// A direct conversation with yourself.
    #[error("You cannot start a conversation with yourself.")]
    CannotTalkToYourself,
    /// The other person (or someone added to a group) does not accept
    /// messages from the caller.
    #[error("Someone you are adding does not accept messages from you.")]
    CannotMessage,
    /// A group needs the starter and at least one other person.
    #[error("A group needs at least one other member.")]
    GroupNeedsMembers,
    /// Over the member limit.
    #[error("A group has at most {MAX_GROUP_MEMBERS} members.")]
    GroupTooLarge,
    /// Someone who left can be brought back by the group's creator alone.
    #[error("Someone you are adding left this group; only its creator can add them back.")]
    LeftTheGroup,
    /// Only members may do this.
    #[error("You are not a member of this conversation.")]
    NotAMember,
    /// Direct conversations keep their two members.
    #[error("A direct conversation cannot gain or lose members.")]
    DirectConversationIsFixed,
}

/// Decides a conversation command.
pub fn decide(
    conversation: &Conversation,
    command: ConversationCommand,
) -> Result<Vec<ChatEvent>, ConversationRejection> {
    use ConversationCommand as C;
    use ConversationRejection as R;
    match (conversation, command) {
        (_, C::StartDirect { by, with, .. }) if by == with => Err(R::CannotTalkToYourself),
        (Conversation::Active { kind: ConversationKind::Direct, .. }, C::StartDirect { .. }) => Ok(vec![]),
        (Conversation::Active { .. }, C::StartDirect { .. } | C::StartGroup { .. }) => Err(R::AlreadyExists),
        (Conversation::Absent, C::StartDirect { may_message: false, .. }) => Err(R::CannotMessage),
        (Conversation::Absent, C::StartDirect { conversation, by, with, .. }) => {
            let members = sorted([by.clone(), with]);
            Ok(vec![
                ConversationStarted {
                    conversation,
                    kind: ConversationKind::Direct,
                    started_by: by,
                    members,
                    title: None,
                }
                .into(),
            ])
        }
        (Conversation::Absent, C::StartGroup { conversation, by, members, title, refused }) => {
            let members = sorted(members.into_iter().chain([by.clone()]));
            if members.len() < 2 {
                return Err(R::GroupNeedsMembers);
            }
            if members.len() > MAX_GROUP_MEMBERS {
                return Err(R::GroupTooLarge);
            }
            // A group is a way to message its members: it must not get
            // around what each of them accepts in a direct conversation.
            if !refused.is_empty() {
                return Err(R::CannotMessage);
            }
            let started = ConversationStarted {
                conversation,
                kind: ConversationKind::Group,
                started_by: by,
                members,
                title: Some(title.0),
            };
            Ok(vec![started.into()])
        }
        (Conversation::Absent, _) => Err(R::NoSuchConversation),
        (Conversation::Active { kind: ConversationKind::Direct, .. }, C::AddMembers { .. } | C::Leave { .. }) => {
            Err(R::DirectConversationIsFixed)
        }
        (
            Conversation::Active { id, members: current, started_by, left, .. },
            C::AddMembers { by, members, refused },
        ) => {
            if !current.contains(&by) {
                return Err(R::NotAMember);
            }
            let new: Vec<UserId> = sorted(members.into_iter().filter(|m| !current.contains(m)));
            if new.is_empty() {
                return Ok(vec![]);
            }
            if current.len() + new.len() > MAX_GROUP_MEMBERS {
                return Err(R::GroupTooLarge);
            }
            if new.iter().any(|m| refused.contains(m)) {
                return Err(R::CannotMessage);
            }
            // Any member may add people, but leaving is a choice the others
            // should not undo: only the creator brings someone back.
            if by != *started_by && new.iter().any(|m| left.contains(m)) {
                return Err(R::LeftTheGroup);
            }
            Ok(vec![MembersAdded { conversation: *id, by, members: new }.into()])
        }
        (Conversation::Active { id, members, .. }, C::Leave { member }) => {
            if !members.contains(&member) {
                return Ok(vec![]);
            }
            Ok(vec![MemberLeft { conversation: *id, member }.into()])
        }
    }
}

fn sorted(users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
    users.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}

/// Folds one event into the conversation.
pub fn evolve(conversation: Conversation, event: &ChatEvent) -> Conversation {
    match (conversation, event) {
        (_, ChatEvent::ConversationStarted(e)) => Conversation::Active {
            id: e.conversation,
            kind: e.kind,
            members: e.members.iter().cloned().collect(),
            started_by: e.started_by.clone(),
            left: BTreeSet::new(),
        },
        (Conversation::Active { id, kind, mut members, started_by, mut left }, ChatEvent::MembersAdded(e)) => {
            members.extend(e.members.iter().cloned());
            e.members.iter().for_each(|m| _ = left.remove(m));
            Conversation::Active { id, kind, members, started_by, left }
        }
        (Conversation::Active { id, kind, mut members, started_by, mut left }, ChatEvent::MemberLeft(e)) => {
            members.remove(&e.member);
            left.insert(e.member.clone());
            Conversation::Active { id, kind, members, started_by, left }
        }
        (conversation, _) => conversation,
    }
}

crate::decider::decider!(Conversation, ConversationCommand, ChatEvent, ConversationRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GROUP: ConversationId = ConversationId(Uuid::from_u128(7));

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn given(events: &[ChatEvent]) -> Conversation {
        <Conversation as crate::Decider>::fold(events)
    }

    fn group_of(members: &[&str]) -> Vec<ChatEvent> {
        let start = ConversationCommand::StartGroup {
            conversation: GROUP,
            by: user(members[0]),
            members: members[1..].iter().map(|m| user(m)).collect(),
            title: GroupTitle::parse("Study group").unwrap(),
            refused: vec![],
        };
        decide(&Conversation::Absent, start).unwrap()
    }

    fn direct(by: &str, with: &str, may_message: bool) -> ConversationCommand {
        let (by, with) = (user(by), user(with));
        ConversationCommand::StartDirect { conversation: direct_conversation_id(&by, &with), by, with, may_message }
    }

    #[test]
    fn a_direct_conversation_has_one_id_per_pair_whatever_the_order() {
        assert_eq!(
            direct_conversation_id(&user("ana"), &user("ben")),
            direct_conversation_id(&user("ben"), &user("ana"))
        );
        assert_ne!(
            direct_conversation_id(&user("ana"), &user("ben")),
            direct_conversation_id(&user("ana"), &user("carla"))
        );
    }

    #[test]
    fn a_direct_conversation_starts_once_and_only_when_the_other_accepts_messages() {
        let started = decide(&Conversation::Absent, direct("ana", "ben", true)).unwrap();
        assert_eq!(started.len(), 1);
        assert_eq!(decide(&given(&started), direct("ben", "ana", true)), Ok(vec![]));
        assert_eq!(
            decide(&Conversation::Absent, direct("ana", "ben", false)),
            Err(ConversationRejection::CannotMessage)
        );
        assert_eq!(
            decide(&Conversation::Absent, direct("ana", "ana", true)),
            Err(ConversationRejection::CannotTalkToYourself)
        );
        let add = ConversationCommand::AddMembers { by: user("ana"), members: vec![user("carla")], refused: vec![] };
        assert_eq!(decide(&given(&started), add), Err(ConversationRejection::DirectConversationIsFixed));
    }

    #[test]
    fn a_group_needs_another_member_and_only_members_add_people() {
        let alone = ConversationCommand::StartGroup {
            conversation: GROUP,
            by: user("ana"),
            members: vec![user("ana")],
            title: GroupTitle::parse("Me").unwrap(),
            refused: vec![],
        };
        assert_eq!(decide(&Conversation::Absent, alone), Err(ConversationRejection::GroupNeedsMembers));
        let group = given(&group_of(&["ana", "ben"]));
        assert!(group.is_member(&user("ben")) && !group.is_member(&user("carla")));
        let by_stranger =
            ConversationCommand::AddMembers { by: user("zed"), members: vec![user("carla")], refused: vec![] };
        assert_eq!(decide(&group, by_stranger), Err(ConversationRejection::NotAMember));
        let add = |refused: Vec<UserId>| ConversationCommand::AddMembers {
            by: user("ana"),
            members: vec![user("ben"), user("carla")],
            refused,
        };
        assert_eq!(decide(&group, add(vec![user("carla")])), Err(ConversationRejection::CannotMessage));
        let added = decide(&group, add(vec![])).unwrap();
        assert_eq!(
            added,
            vec![MembersAdded { conversation: GROUP, by: user("ana"), members: vec![user("carla")] }.into()]
        );
    }

    #[test]
    fn leaving_removes_a_member_and_leaving_twice_changes_nothing() {
        let events = group_of(&["ana", "ben", "carla"]);
        let left = decide(&given(&events), ConversationCommand::Leave { member: user("ben") }).unwrap();
        let after = given(&[events, left].concat());
        assert!(!after.is_member(&user("ben")));
        assert_eq!(decide(&after, ConversationCommand::Leave { member: user("ben") }), Ok(vec![]));
        assert_eq!(
            decide(&Conversation::Absent, ConversationCommand::Leave { member: user("ben") }),
            Err(ConversationRejection::NoSuchConversation)
        );
    }

    #[test]
    fn a_group_cannot_include_someone_who_does_not_accept_messages_from_its_starter() {
        let start = ConversationCommand::StartGroup {
            conversation: GROUP,
            by: user("ana"),
            members: vec![user("ben"), user("carla")],
            title: GroupTitle::parse("Study group").unwrap(),
            refused: vec![user("carla")],
        };
        assert_eq!(decide(&Conversation::Absent, start), Err(ConversationRejection::CannotMessage));
    }

    #[test]
    fn someone_who_left_is_added_back_only_by_the_creator() {
        let events = group_of(&["ana", "ben", "carla"]);
        let left = decide(&given(&events), ConversationCommand::Leave { member: user("carla") }).unwrap();
        let after = given(&[events.clone(), left.clone()].concat());
        let add_carla =
            |by: &str| ConversationCommand::AddMembers { by: user(by), members: vec![user("carla")], refused: vec![] };
        assert_eq!(decide(&after, add_carla("ben")), Err(ConversationRejection::LeftTheGroup));
        let back = decide(&after, add_carla("ana")).unwrap();
        assert_eq!(back.len(), 1, "the creator brings her back");
        let rejoined = given(&[events, left, back].concat());
        assert!(rejoined.is_member(&user("carla")));
        let leave_again = decide(&rejoined, ConversationCommand::Leave { member: user("carla") }).unwrap();
        assert_eq!(leave_again.len(), 1);
    }

    #[test]
    fn a_group_is_bounded_in_size() {
        let many: Vec<String> = (0..MAX_GROUP_MEMBERS).map(|i| format!("u{i}")).collect();
        let start = ConversationCommand::StartGroup {
            conversation: GROUP,
            by: user("ana"),
            members: many.iter().map(|m| user(m)).collect(),
            title: GroupTitle::parse("Big").unwrap(),
            refused: vec![],
        };
        assert_eq!(decide(&Conversation::Absent, start), Err(ConversationRejection::GroupTooLarge));
    }

    #[test]
    fn the_group_size_refusal_names_the_limit_the_rules_apply() {
        assert_eq!(
            ConversationRejection::GroupTooLarge.to_string(),
            format!("A group has at most {MAX_GROUP_MEMBERS} members.")
        );
        let members: Vec<UserId> = (0..MAX_NAMED_MEMBERS).map(|i| user(&format!("u{i}"))).collect();
        let start = |members: Vec<UserId>| ConversationCommand::StartGroup {
            conversation: GROUP,
            by: user("ana"),
            members,
            title: GroupTitle::parse("Full").unwrap(),
            refused: vec![],
        };
        assert!(decide(&Conversation::Absent, start(members.clone())).is_ok(), "the caller and 255 others fit");
        let one_more = [members, vec![user("zed")]].concat();
        assert_eq!(decide(&Conversation::Absent, start(one_more)), Err(ConversationRejection::GroupTooLarge));
    }
}

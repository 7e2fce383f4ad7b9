//! Whether one user blocks another: an aggregate per ordered pair. A block
//! stops the blocked user from following, commenting, liking, answering events
//! and messaging the blocker; those commands look it up.

use events::catalog::UserEvent;
use events::catalog::users::{UserBlocked, UserUnblocked};
use events::ids::UserId;

/// The block between two users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Block {
    /// No block.
    #[default]
    NotBlocking,
    /// Blocking.
    Blocking,
}

/// Block or unblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockCommand {
    /// Start blocking.
    Block {
        /// The caller.
        blocker: UserId,
        /// Who to block.
        blocked: UserId,
    },
    /// Lift a block.
    Unblock {
        /// The caller.
        blocker: UserId,
        /// Who to unblock.
        blocked: UserId,
    },
}

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockRejection {
    /// Blocking yourself.
    #[error("You cannot block yourself.")]
    CannotBlockSelf,
}

/// Decides a block command; blocking twice or unblocking someone not blocked
/// changes nothing.
pub fn decide(block: &Block, command: BlockCommand) -> Result<Vec<UserEvent>, BlockRejection> {
    match (block, command) {
        (_, BlockCommand::Block { blocker, blocked }) if blocker == blocked => Err(BlockRejection::CannotBlockSelf),
        (Block::Blocking, BlockCommand::Block { .. }) | (Block::NotBlocking, BlockCommand::Unblock { .. }) => {
            Ok(vec![])
        }
        (Block::NotBlocking, BlockCommand::Block { blocker, blocked }) => {
            Ok(vec![UserBlocked { blocker, blocked }.into()])
        }
        (Block::Blocking, BlockCommand::Unblock { blocker, blocked }) => {
            Ok(vec![UserUnblocked { blocker, blocked }.into()])
        }
    }
}

/// Folds one event into the block.
pub fn evolve(block: Block, event: &UserEvent) -> Block {
    match event {
        UserEvent::UserBlocked(_) => Block::Blocking,
        UserEvent::UserUnblocked(_) => Block::NotBlocking,
        _ => block,
    }
}

crate::decider::decider!(Block, BlockCommand, UserEvent, BlockRejection);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn blocking_twice_appends_nothing_and_unblocking_lifts_it() {
        let block = || BlockCommand::Block { blocker: user("ana"), blocked: user("ben") };
        let unblock = || BlockCommand::Unblock { blocker: user("ana"), blocked: user("ben") };
        let blocked = decide(&Block::NotBlocking, block()).unwrap();
        let state = blocked.iter().fold(Block::NotBlocking, evolve);
        assert_eq!(state, Block::Blocking);
        assert_eq!(decide(&state, block()), Ok(vec![]));
        assert_eq!(decide(&Block::NotBlocking, unblock()), Ok(vec![]));
        assert_eq!(
            decide(&state, unblock()),
            Ok(vec![UserUnblocked { blocker: user("ana"), blocked: user("ben") }.into()])
        );
    }

    #[test]
    fn you_cannot_block_yourself() {
        let own = BlockCommand::Block { blocker: user("ana"), blocked: user("ana") };
        assert_eq!(decide(&Block::NotBlocking, own), Err(BlockRejection::CannotBlockSelf));
    }
}

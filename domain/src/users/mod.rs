//! Users rules: handles (unique, claimed through the log), registration,
//! profiles and settings, follows and blocks. Follows and blocks are
//! aggregates of their own (one per pair of users).

pub mod block;
pub mod follow;
pub mod handle;
pub mod user;

pub use block::{Block, BlockCommand, BlockRejection};
pub use follow::{Follow, FollowCommand, FollowRejection};
pub use handle::{HandleClaim, HandleCommand, HandleRejection, Holder, handle_candidates};
pub use user::{
    DisplayName, MAX_DISPLAY_NAME_CHARS, ProfileChanges, RawProfileChanges, User, UserCommand, UserRejection,
};

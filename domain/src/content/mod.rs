//! Content rules: posts and their moderation, and how post text becomes a
//! [`PostBody`](events::catalog::content::PostBody) (tags, mentions, the
//! moderation word list).

pub mod moderation;
pub mod post;
pub mod text;

pub use moderation::ReportReason;
pub use text::WordList;

//! What users and moderators say when they act on content.

use crate::input::{self, InvalidInput};

/// Why a user reports content: 1 to 500 characters. Only `parse` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportReason(String);

impl ReportReason {
    /// Checks a raw reason (field `reason`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        input::text("reason", raw, 1, 500, true).map(Self)
    }

    /// The reason as text.
    pub fn into_string(self) -> String {
        self.0
    }
}

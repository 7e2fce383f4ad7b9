//! Filled in by the chat rules.

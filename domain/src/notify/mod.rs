//! Filled in by the notify rules.

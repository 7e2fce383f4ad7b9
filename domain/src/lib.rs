//! Pulse's business rules. For each aggregate, `decide` turns state and a command
//! into events or a rejection; `evolve` folds one event into state.
//!
//! Owns: who may edit a post, RSVP capacity, chat membership, follow and block
//! rules, notification preferences, the policies that turn events into
//! commands ([`policy`]), and the parsing of user input into types that cannot
//! be wrong ([`input`]).
//! Never touches: NATS, HTTP, databases, the clock, random numbers, `async`.
//! Time, new ids and outside facts (is the actor a moderator? blocked?) arrive
//! as command fields, looked up by the caller first.

pub mod chat;
pub mod content;
pub mod decider;
pub mod input;
pub mod notify;
pub mod policy;
pub mod users;

pub use decider::Decider;
pub use input::InvalidInput;

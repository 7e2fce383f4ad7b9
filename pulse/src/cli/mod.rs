//! Operator commands: reading the log (`pulse events ...`) and minting dev
//! tokens (`pulse token`).

pub mod events;
pub mod token;

//! Operator commands: reading the log (`pulse events ...`), the projections'
//! positions (`pulse projections status`) and minting dev tokens (`pulse token`).

pub mod events;
pub mod projections;
pub mod token;

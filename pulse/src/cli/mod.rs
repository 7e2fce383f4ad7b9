//! Operator commands: reading the log (`pulse events ...`), the projections'
//! positions (`pulse projections status`), minting dev tokens (`pulse token`)
//! and a container's health check (`pulse probe`).

pub mod events;
pub mod probe;
pub mod projections;
pub mod token;

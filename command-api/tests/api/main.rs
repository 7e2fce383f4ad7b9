//! The command API over HTTP against a real NATS JetStream: each test starts
//! the router on 127.0.0.1:0 with its own streams and talks to it with a real
//! HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod calendar_queries;
mod chat;
mod chat_queries;
mod comments;
mod events;
mod faults;
mod feed;
mod internal;
mod likes;
mod limits;
mod notifications;
mod post_queries;
mod posts;
mod probes;
mod profiles;
mod support;
mod user_queries;
mod users;

//! The `pulse` binary as operators run it: against the real NATS, on a
//! namespace of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster;
mod deploy;
mod events;
mod faults;
mod gateway;
mod nats_floor;
mod process;
mod readme;
mod serve;
mod sources;
mod token;

use std::process::{Command, Output};

/// Runs `pulse` with these arguments and extra environment, to completion.
pub fn pulse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulse"));
    // The server the tests use, which `cargo test` alone may have found in
    // `.pulse/nats.url` rather than in the environment.
    command
        .args(args)
        .env_remove("PULSE_DEV")
        .env_remove("PULSE_JWT_SECRET")
        // `make test` points the MongoDB tests at a server; the processes
        // started here use the embedded store unless a test says otherwise.
        .env_remove("PULSE_MONGO_URL")
        .env("PULSE_LOG_FORMAT", "text")
        .env("PULSE_NATS_URL", testkit::nats_url());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("pulse runs")
}

/// What the process printed to stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the process printed to stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

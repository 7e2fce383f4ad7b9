//! `pulse` on a nats-server older than the floor: it exits with what to do.

use crate::{pulse, stderr};
use testkit::old_nats::OldNats;

#[test]
fn every_command_that_connects_refuses_an_old_server_and_says_what_to_do() {
    let old = OldNats::start();
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("PULSE_NATS_URL", old.url.as_str()),
        ("PULSE_JWT_SECRET", "floor-test-secret-0123456789abcdef"),
        ("PULSE_COMMAND_API_ADDR", "127.0.0.1:0"),
        ("PULSE_PROJECTORS_ADDR", "127.0.0.1:0"),
        ("PULSE_CHAT_GATEWAY_ADDR", "127.0.0.1:0"),
        ("PULSE_NOTIFIER_ADDR", "127.0.0.1:0"),
        ("PULSE_DATA_DIR", data.path().to_str().unwrap()),
    ];
    let commands: [&[&str]; 8] = [
        &["events", "show", "content.post.0191d1b4-0000-7000-8000-000000000000"],
        &["events", "tail"],
        &["command-api"],
        &["projectors"],
        &["chat-gateway"],
        &["notifier"],
        &["projections", "status"],
        &["all"],
    ];
    for args in commands {
        let output = pulse(args, &env);
        let message = stderr(&output);
        assert!(!output.status.success(), "pulse {args:?} ran on nats-server {}: {message}", old.version);
        for part in [
            format!("nats-server {} at {} is older than {}", old.version, old.url, events::MIN_NATS_VERSION),
            "make services".to_owned(),
            format!("PULSE_NATS_URL at nats-server >= {}", events::MIN_NATS_VERSION),
        ] {
            assert!(message.contains(&part), "pulse {args:?}: {part:?} missing from {message}");
        }
        assert!(!message.contains("-js?"), "no misleading hint: {message}");
    }
}

//! Reactions: the policies of `domain::policy` run as commands, through the
//! same runner as the API's, by the same engine as the projections (a shared
//! durable consumer, a checkpoint in the read store). Each command carries a
//! key made from the event's id, so an event delivered again appends nothing
//! twice; and a command the rules find nothing to do for appends nothing.

use crate::job::Reactor;
use commands::{CommandContext, CommandError, Commands};
use domain::policy::{self, Reaction};
use domain::users::{Follow, FollowCommand};
use events::catalog::Context;
use events::store::{IdempotencyKey, Recorded};
use events::{Aggregate, Metadata, StoreError};
use futures::future::BoxFuture;

/// The policies, with what they need to act.
pub struct Reactions {
    commands: Commands,
}

impl Reactor for Reactions {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn contexts(&self) -> &'static [Context] {
        Self::CONTEXTS
    }

    fn react<'a>(&'a self, recorded: &'a Recorded) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.run(recorded).await.map_err(|e| e.to_string()) })
    }
}

impl Reactions {
    /// Their name in checkpoints, consumers and status.
    pub const NAME: &'static str = "reactions";

    /// The streams whose events the policies react to.
    pub const CONTEXTS: &'static [Context] = &[Context::Users];

    /// Reactions that run their commands with `commands`.
    pub fn new(commands: Commands) -> Self {
        Self { commands }
    }

    /// Runs every command the policies ask for after `recorded`. A store
    /// failure is returned (the event is tried again); a refusal by the
    /// rules is the answer, logged and passed over.
    pub async fn run(&self, recorded: &Recorded) -> Result<(), StoreError> {
        for (n, reaction) in policy::reactions(&recorded.event).into_iter().enumerate() {
            let context = self.context(recorded, n);
            let outcome = match &reaction {
                Reaction::EndFollow { follower, followee } => {
                    let command = FollowCommand::Unfollow { follower: follower.clone(), followee: followee.clone() };
                    let aggregate = Aggregate::follow(follower, followee);
                    self.commands.execute::<Follow>(&context, &aggregate, command).await.map(drop)
                }
            };
            match outcome {
                Ok(()) => {}
                Err(CommandError::Store(e)) => return Err(e),
                Err(refused) => tracing::warn!(error = %refused, ?reaction, "a reaction was refused"),
            }
        }
        Ok(())
    }

    /// The n-th command's context: caused by the event, in its correlation,
    /// keyed by its id in a scope no client key can take (`!`).
    fn context(&self, recorded: &Recorded, n: usize) -> CommandContext {
        let metadata = Metadata {
            correlation_id: recorded.envelope.correlation_id.clone(),
            causation_id: Some(recorded.envelope.id.to_string()),
            actor: None,
        };
        let key = IdempotencyKey::parse(&format!("!reaction:{}:{n}", recorded.envelope.id)).ok();
        CommandContext::new(metadata, key)
    }
}

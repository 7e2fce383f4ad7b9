//! Whom a socket's user is apart from: a block either way. A blocked pair
//! sees nothing of each other's presence or read receipts (as Mastodon and
//! Matrix hide what a blocked account does). Each answer costs two direct gets
//! and is kept for a short while per socket, so a busy group costs a lookup
//! per reader, not per receipt, and a new block shows within [`KEEP`].

use commands::{Commands, facts};
use events::StoreError;
use events::ids::UserId;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// How long an answer is kept.
pub const KEEP: Duration = Duration::from_secs(30);

/// The most answers one socket keeps; past it they are all dropped.
const MOST: usize = 1024;

/// One socket's answers.
pub struct Relations {
    user: UserId,
    known: HashMap<UserId, (bool, Instant)>,
}

impl Relations {
    /// For a socket of `user`.
    pub fn new(user: UserId) -> Self {
        Self { user, known: HashMap::new() }
    }

    /// Whether `other` blocks this socket's user or is blocked by them.
    pub async fn apart(&mut self, commands: &Commands, other: &UserId) -> Result<bool, StoreError> {
        if let Some(apart) = self.recalled(other) {
            return Ok(apart);
        }
        let apart = look_up(commands, &self.user, other).await?;
        self.remember(other, apart);
        Ok(apart)
    }

    /// Those of `others` this socket's user is apart from, looked up
    /// together; one that cannot be told counts as apart.
    pub async fn apart_among(&mut self, commands: &Commands, others: &[UserId]) -> HashSet<UserId> {
        let unknown: Vec<&UserId> = others.iter().filter(|other| self.recalled(other).is_none()).collect();
        let user = &self.user;
        let looked = futures::future::join_all(
            unknown.into_iter().map(|other| async move { (other, look_up(commands, user, other).await) }),
        )
        .await;
        for (other, apart) in looked {
            match apart {
                Ok(apart) => self.remember(other, apart),
                Err(e) => tracing::warn!(error = %e, "a block could not be checked; presence is held back"),
            }
        }
        others.iter().filter(|other| self.recalled(other) != Some(false)).cloned().collect()
    }

    fn recalled(&self, other: &UserId) -> Option<bool> {
        if *other == self.user {
            return Some(false);
        }
        self.known.get(other).filter(|(_, at)| at.elapsed() < KEEP).map(|(apart, _)| *apart)
    }

    fn remember(&mut self, other: &UserId, apart: bool) {
        if self.known.len() >= MOST {
            self.known.clear();
        }
        self.known.insert(other.clone(), (apart, Instant::now()));
    }

    /// Whether `reader`'s receipt may reach this socket: not when they are
    /// apart, nor when that cannot be told now (a receipt is not worth
    /// showing to someone it should be hidden from).
    pub async fn may_see_receipt(&mut self, commands: &Commands, reader: &UserId) -> bool {
        match self.apart(commands, reader).await {
            Ok(apart) => !apart,
            Err(e) => {
                tracing::warn!(error = %e, "a block could not be checked; the receipt is held back");
                false
            }
        }
    }
}

/// A block either way between two users: two direct gets.
async fn look_up(commands: &Commands, user: &UserId, other: &UserId) -> Result<bool, StoreError> {
    let (blocks, blocked) =
        tokio::try_join!(facts::blocks(commands, user, other), facts::blocks(commands, other, user))?;
    Ok(blocks || blocked)
}

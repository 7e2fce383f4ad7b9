//! Delivering a notification on one channel (email, push): where it stands,
//! folded from the notification's own events, what to do next, and how long
//! to wait before trying again. The notifier does the sending; these rules
//! decide again from the log on every redelivery, so an event handled twice
//! sends nothing twice once its outcome is recorded.

use events::catalog::NotificationEvent;
use events::catalog::notifications::{Channel, NotificationFailed, NotificationKind};
use events::ids::NotificationId;
use std::time::Duration;

/// Where one channel's delivery of a notification stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts that failed so far.
    pub failed_attempts: u32,
    /// It reached the channel.
    pub delivered: bool,
    /// No attempt will follow: skipped, failed for good, or out of attempts.
    pub given_up: bool,
}

impl Delivery {
    /// The state of `channel` after a notification's history.
    pub fn of<'a>(channel: Channel, history: impl IntoIterator<Item = &'a NotificationEvent>) -> Self {
        history.into_iter().fold(Self::default(), |state, event| state.evolve(channel, event))
    }

    fn evolve(mut self, channel: Channel, event: &NotificationEvent) -> Self {
        match event {
            NotificationEvent::NotificationDelivered(e) if e.channel == channel => self.delivered = true,
            NotificationEvent::NotificationSkipped(e) if e.channel == channel => self.given_up = true,
            NotificationEvent::NotificationFailed(e) if e.channel == channel => {
                self.failed_attempts = self.failed_attempts.max(e.attempt);
                self.given_up |= !e.will_retry;
            }
            _ => {}
        }
        self
    }

    /// The attempt to make now, from 1; `None` when the outcome is settled.
    pub fn next_attempt(&self) -> Option<u32> {
        (!self.delivered && !self.given_up).then_some(self.failed_attempts + 1)
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It may work later (the server is down, busy, or said "try again").
    Transient(String),
    /// It will not work (the address was refused for good).
    Permanent(String),
}

/// How often and how patiently to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, base: Duration::from_secs(1), cap: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The record of a failed attempt: another follows only for a transient
    /// failure with attempts left (the last one is the dead letter).
    pub fn failed(
        &self,
        notification: NotificationId,
        channel: Channel,
        attempt: u32,
        failure: Failure,
    ) -> NotificationFailed {
        let (error, transient) = match failure {
            Failure::Transient(e) => (e, true),
            Failure::Permanent(e) => (e, false),
        };
        NotificationFailed { notification, channel, attempt, error, will_retry: transient && attempt < self.attempts }
    }

    /// The wait after failed attempt `attempt` (from 1): `base` doubled per
    /// attempt, at most `cap`, then jittered into its upper half by `jitter`
    /// (0 to 1), so senders that failed together do not retry together.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let doubled = self.base.saturating_mul(1_u32 << attempt.saturating_sub(1).min(20));
        let full = doubled.min(self.cap);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The kinds that go out by email unless the user says otherwise: what is
/// addressed to the user and cannot wait for their next visit. Likes and
/// follows stay in the app.
pub const EMAIL_BY_DEFAULT: &[NotificationKind] = &[
    NotificationKind::Mentioned,
    NotificationKind::MessageReceived,
    NotificationKind::EventReminder,
    NotificationKind::EventCancelled,
    NotificationKind::Moderation,
];

/// The kinds that go out by Web Push unless the user says otherwise: what is
/// addressed to the user, or answers them, and is worth a device's attention.
pub const PUSH_BY_DEFAULT: &[NotificationKind] = &[
    NotificationKind::Mentioned,
    NotificationKind::PostCommented,
    NotificationKind::EventRsvp,
    NotificationKind::MessageReceived,
    NotificationKind::EventReminder,
    NotificationKind::EventCancelled,
    NotificationKind::Moderation,
];

#[cfg(test)]
mod tests {
    use super::*;
    use events::catalog::notifications::{NotificationDelivered, NotificationSkipped};

    const ID: NotificationId = NotificationId(uuid::Uuid::nil());

    fn failed(attempt: u32, will_retry: bool) -> NotificationEvent {
        NotificationFailed { notification: ID, channel: Channel::Email, attempt, error: "down".into(), will_retry }
            .into()
    }

    #[test]
    fn a_new_delivery_starts_at_attempt_one_and_counts_failures_of_its_own_channel() {
        assert_eq!(Delivery::of(Channel::Email, []).next_attempt(), Some(1));
        let push_failed = NotificationFailed {
            notification: ID,
            channel: Channel::Push,
            attempt: 4,
            error: "gone".into(),
            will_retry: false,
        }
        .into();
        let history = [failed(1, true), failed(2, true), push_failed];
        assert_eq!(Delivery::of(Channel::Email, &history).next_attempt(), Some(3));
    }

    #[test]
    fn delivered_skipped_or_given_up_is_settled() {
        let delivered: NotificationEvent = NotificationDelivered { notification: ID, channel: Channel::Email }.into();
        let skipped: NotificationEvent =
            NotificationSkipped { notification: ID, channel: Channel::Email, reason: "off".into() }.into();
        for history in [vec![failed(1, true), delivered], vec![skipped], vec![failed(1, true), failed(2, false)]] {
            assert_eq!(Delivery::of(Channel::Email, &history).next_attempt(), None, "{history:?}");
        }
    }

    #[test]
    fn transient_failures_retry_until_the_last_attempt_and_permanent_ones_never() {
        let policy = RetryPolicy { attempts: 3, ..RetryPolicy::default() };
        let transient = |attempt| policy.failed(ID, Channel::Email, attempt, Failure::Transient("421".into()));
        assert!(transient(1).will_retry && transient(2).will_retry);
        assert!(!transient(3).will_retry, "the last attempt is the dead letter");
        assert!(!policy.failed(ID, Channel::Email, 1, Failure::Permanent("550".into())).will_retry);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_keeps_it_in_the_upper_half() {
        let policy = RetryPolicy { attempts: 10, base: Duration::from_millis(100), cap: Duration::from_millis(1000) };
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(policy.backoff(9, 1.0), Duration::from_millis(1000));
        assert_eq!(policy.backoff(3, 0.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(u32::MAX, 0.5), Duration::from_millis(750));
    }
}

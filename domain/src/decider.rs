//! The shape every aggregate's rules share, so one loop (load, decide, append)
//! and one test harness serve them all.

use events::catalog::IntoDomainEvent;

/// An aggregate's state and its two pure functions: `decide` answers a command
/// with events or a rejection, `evolve` folds one event into the state.
///
/// The state is what the rules need, not a read model; `Default` is the state
/// of an aggregate with no events.
pub trait Decider: Default + Clone + Send + Sync + 'static {
    /// What callers ask for; outside facts travel as its fields.
    type Command: Clone + Send + Sync;
    /// What the aggregate appends.
    type Event: IntoDomainEvent;
    /// Why a command is refused.
    type Rejection;

    /// The events `command` leads to from this state, or why not.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// The state after one more event.
    fn evolve(self, event: &Self::Event) -> Self;

    /// The state a history folds to.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// Implements [`Decider`] for a state type from its module's `decide` and
/// `evolve` functions.
macro_rules! decider {
    ($state:ty, $command:ty, $event:ty, $rejection:ty) => {
        impl $crate::Decider for $state {
            type Command = $command;
            type Event = $event;
            type Rejection = $rejection;
            fn decide(&self, command: $command) -> Result<Vec<$event>, $rejection> {
                decide(self, command)
            }
            fn evolve(self, event: &$event) -> Self {
                evolve(self, event)
            }
        }
    };
}
pub(crate) use decider;

/// Given/when/then for any aggregate's unit tests: a history, a command, and
/// what `decide` must answer.
#[cfg(test)]
pub(crate) mod given {
    use super::Decider;
    use std::fmt::Debug;

    /// The state after `history`.
    pub(crate) struct Given<D>(pub(crate) D);

    /// Folds a history into the state a test starts from.
    pub(crate) fn given<D: Decider>(history: impl IntoIterator<Item = impl Into<D::Event>>) -> Given<D> {
        let events: Vec<D::Event> = history.into_iter().map(Into::into).collect();
        Given(D::fold(&events))
    }

    impl<D: Decider> Given<D> {
        /// Decides `command` on the state.
        pub(crate) fn when(self, command: D::Command) -> Then<D> {
            Then(self.0.decide(command))
        }
    }

    /// What `decide` answered.
    pub(crate) struct Then<D: Decider>(pub(crate) Result<Vec<D::Event>, D::Rejection>);

    impl<D: Decider> Then<D>
    where
        D::Event: Debug + PartialEq,
        D::Rejection: Debug + PartialEq,
    {
        /// Exactly this one event.
        #[track_caller]
        pub(crate) fn then(self, expected: impl Into<D::Event>) {
            assert_eq!(self.0, Ok(vec![expected.into()]));
        }

        /// Accepted, and nothing changes (the command was already satisfied).
        #[track_caller]
        pub(crate) fn then_nothing(self) {
            assert_eq!(self.0, Ok(vec![]));
        }

        /// Refused for this reason.
        #[track_caller]
        pub(crate) fn then_rejects(self, rejection: D::Rejection) {
            assert_eq!(self.0, Err(rejection));
        }
    }
}

//! Outside facts a command needs before `decide`: is the caller blocked, is
//! the post live and whose is it, does someone accept messages from the
//! caller. Each is one small read of the log (a direct get of a relation's
//! last event, or a cached aggregate brought up to date). Every service that
//! sends commands (the REST API, the chat gateway) asks them here.

use crate::Commands;
use domain::content::{CalendarEvent, Comment, Post};
use domain::notify::{Notification, NotifySettings};
use domain::users::User;
use events::catalog::UserEvent;
use events::catalog::users::MessagePolicy;
use events::ids::{CommentId, EventId, Handle, NotificationId, PostId, UserId};
use events::{Aggregate, DomainEvent, StoreError};

/// Whether `blocker` currently blocks `blocked`: the last event on their
/// block subject decides.
pub async fn blocks(commands: &Commands, blocker: &UserId, blocked: &UserId) -> Result<bool, StoreError> {
    let last = commands.store().last(&Aggregate::block(blocker, blocked)).await?;
    Ok(matches!(last.map(|r| r.event), Some(DomainEvent::Users(UserEvent::UserBlocked(_)))))
}

/// Whether `follower` currently follows `followee`.
pub async fn follows(commands: &Commands, follower: &UserId, followee: &UserId) -> Result<bool, StoreError> {
    let last = commands.store().last(&Aggregate::follow(follower, followee)).await?;
    Ok(matches!(last.map(|r| r.event), Some(DomainEvent::Users(UserEvent::Followed(_)))))
}

/// Whether `to` accepts messages from `from`, in a direct conversation or by
/// being put in a group: registered, no block either way, and their message
/// policy lets `from` in.
pub async fn may_message(commands: &Commands, from: &UserId, to: &UserId) -> Result<bool, StoreError> {
    let User::Registered { settings, .. } = user(commands, to).await? else {
        return Ok(false);
    };
    if blocks(commands, to, from).await? || blocks(commands, from, to).await? {
        return Ok(false);
    }
    Ok(match settings.messages_from {
        MessagePolicy::Everyone => true,
        MessagePolicy::Following => follows(commands, to, from).await?,
        MessagePolicy::Nobody => false,
    })
}

/// Those of `members` who do not accept messages from `from`. Asked of all
/// at once: a group of a few hundred is a few hundred direct gets, and one
/// after the other they would add up to seconds.
pub async fn refusing(commands: &Commands, from: &UserId, members: &[UserId]) -> Result<Vec<UserId>, StoreError> {
    let others = members.iter().filter(|m| *m != from);
    let answers = futures::future::try_join_all(
        others.map(|m| async move { Ok::<_, StoreError>((!may_message(commands, from, m).await?).then(|| m.clone())) }),
    )
    .await?;
    Ok(answers.into_iter().flatten().collect())
}

/// A user's account as the rules see it.
pub async fn user(commands: &Commands, id: &UserId) -> Result<User, StoreError> {
    commands.current::<User>(&Aggregate::user(id)).await
}

/// The post as the rules see it.
pub async fn post(commands: &Commands, id: PostId) -> Result<Post, StoreError> {
    commands.current::<Post>(&Aggregate::post(id)).await
}

/// The calendar event as the rules see it.
pub async fn calendar_event(commands: &Commands, id: EventId) -> Result<CalendarEvent, StoreError> {
    commands.current::<CalendarEvent>(&Aggregate::event(id)).await
}

/// Who holds `handle` now: the user of its latest claim, if they registered
/// under it (a claim whose holder registered under another handle, or never
/// registered, names nobody).
pub async fn handle_holder(commands: &Commands, handle: &Handle) -> Result<Option<UserId>, StoreError> {
    let Some(last) = commands.store().last(&Aggregate::handle(handle)).await? else { return Ok(None) };
    let DomainEvent::Users(UserEvent::HandleClaimed(claim)) = last.event else { return Ok(None) };
    Ok(match user(commands, &claim.user).await? {
        User::Registered { handle: registered, .. } if &registered == handle => Some(claim.user),
        _ => None,
    })
}

/// A user's notification preferences and push subscriptions.
pub async fn notify_settings(commands: &Commands, id: &UserId) -> Result<NotifySettings, StoreError> {
    commands.current::<NotifySettings>(&Aggregate::preferences(id)).await
}

/// The comment as the rules see it.
pub async fn comment(commands: &Commands, id: CommentId) -> Result<Comment, StoreError> {
    commands.current::<Comment>(&Aggregate::comment(id)).await
}

/// A notification as reading it sees it: whose it is, and whether it was read.
pub async fn notification(commands: &Commands, id: NotificationId) -> Result<Notification, StoreError> {
    commands.current::<Notification>(&Aggregate::notification(id)).await
}

//! Outside facts a command needs before `decide`: is the caller blocked, is
//! the post live and whose is it. Each is one small read of the log (a direct
//! get of a relation's last event, or one short aggregate).

use crate::App;
use crate::command::current;
use crate::error::ApiError;
use domain::content::{Comment, Post, comment, post};
use domain::users::{User, user};
use events::catalog::UserEvent;
use events::catalog::users::MessagePolicy;
use events::ids::{CommentId, PostId, UserId};
use events::{Aggregate, DomainEvent};

/// Whether `blocker` currently blocks `blocked`: the last event on their
/// block subject decides.
pub async fn blocks(app: &App, blocker: &UserId, blocked: &UserId) -> Result<bool, ApiError> {
    let last = app.events().last(&Aggregate::block(blocker, blocked)).await?;
    Ok(matches!(last.map(|r| r.event), Some(DomainEvent::Users(UserEvent::UserBlocked(_)))))
}

/// Whether `follower` currently follows `followee`.
pub async fn follows(app: &App, follower: &UserId, followee: &UserId) -> Result<bool, ApiError> {
    let last = app.events().last(&Aggregate::follow(follower, followee)).await?;
    Ok(matches!(last.map(|r| r.event), Some(DomainEvent::Users(UserEvent::Followed(_)))))
}

/// Whether `to` accepts a new direct conversation from `from`: registered, no
/// block either way, and their message policy lets `from` in.
pub async fn may_message(app: &App, from: &UserId, to: &UserId) -> Result<bool, ApiError> {
    let User::Registered { settings, .. } = current(app, &Aggregate::user(to), user::evolve).await? else {
        return Ok(false);
    };
    if blocks(app, to, from).await? || blocks(app, from, to).await? {
        return Ok(false);
    }
    Ok(match settings.messages_from {
        MessagePolicy::Everyone => true,
        MessagePolicy::Following => follows(app, to, from).await?,
        MessagePolicy::Nobody => false,
    })
}

/// The post as the rules see it.
pub async fn post(app: &App, id: PostId) -> Result<Post, ApiError> {
    current(app, &Aggregate::post(id), post::evolve).await
}

/// The comment as the rules see it.
pub async fn comment(app: &App, id: CommentId) -> Result<Comment, ApiError> {
    current(app, &Aggregate::comment(id), comment::evolve).await
}

//! Outside facts a command needs before `decide`: is the caller blocked, is
//! the post live and whose is it. Each is one small read of the log (a direct
//! get of a relation's last event, or one short aggregate).

use crate::App;
use crate::command::current;
use crate::error::ApiError;
use domain::content::{Comment, Post, comment, post};
use events::catalog::UserEvent;
use events::ids::{CommentId, PostId, UserId};
use events::{Aggregate, DomainEvent};

/// Whether `blocker` currently blocks `blocked`: the last event on their
/// block subject decides.
pub async fn blocks(app: &App, blocker: &UserId, blocked: &UserId) -> Result<bool, ApiError> {
    let last = app.events().last(&Aggregate::block(blocker, blocked)).await?;
    Ok(matches!(last.map(|r| r.event), Some(DomainEvent::Users(UserEvent::UserBlocked(_)))))
}

/// The post as the rules see it.
pub async fn post(app: &App, id: PostId) -> Result<Post, ApiError> {
    current(app, &Aggregate::post(id), post::evolve).await
}

/// The comment as the rules see it.
pub async fn comment(app: &App, id: CommentId) -> Result<Comment, ApiError> {
    current(app, &Aggregate::comment(id), comment::evolve).await
}

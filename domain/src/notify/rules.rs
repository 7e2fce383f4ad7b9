//! Who hears about what: the notifications an event calls for, before
//! preferences, quiet hours, grouping and channels (the notifier's business).
//! Nobody hears about their own actions. Blocks are outside facts: the
//! notifier drops a notice whose recipient blocks its actor.

use events::catalog::notifications::NotificationKind;
use events::catalog::{ContentEvent, DomainEvent, UserEvent};
use events::ids::{PostId, UserId};

/// One notification an event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Who hears about it.
    pub recipient: UserId,
    /// What happened.
    pub kind: NotificationKind,
    /// Who did it.
    pub actor: UserId,
    /// For people.
    pub text: String,
    /// Where it leads, in the client.
    pub link: String,
}

/// The outside fact an event's notices depend on, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: the event names everyone.
    Nothing,
    /// The author of this post (a comment names only the post).
    PostAuthor(PostId),
}

/// What `notices` needs to know about `event`.
pub fn needs(event: &DomainEvent) -> Needs {
    match event {
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => Needs::PostAuthor(c.post),
        _ => Needs::Nothing,
    }
}

/// The notices `event` calls for; `post_author` answers [`Needs::PostAuthor`]
/// (`None`: the post is gone, so no one is told).
pub fn notices(event: &DomainEvent, post_author: Option<&UserId>) -> Vec<Notice> {
    let notice = |recipient: &UserId, kind, actor: &UserId, text: String, link: String| {
        (recipient != actor).then(|| Notice { recipient: recipient.clone(), kind, actor: actor.clone(), text, link })
    };
    let found = match event {
        DomainEvent::Users(UserEvent::Followed(f)) => notice(
            &f.followee,
            NotificationKind::NewFollower,
            &f.follower,
            format!("{} started following you", f.follower),
            format!("/users/{}", f.follower),
        ),
        DomainEvent::Content(ContentEvent::PostLiked(l)) => notice(
            &l.author,
            NotificationKind::PostLiked,
            &l.user,
            format!("{} liked your post", l.user),
            format!("/posts/{}", l.post),
        ),
        DomainEvent::Content(ContentEvent::CommentAdded(c)) => post_author.and_then(|author| {
            notice(
                author,
                NotificationKind::PostCommented,
                &c.author,
                format!("{} commented on your post", c.author),
                format!("/posts/{}#comment-{}", c.post, c.comment),
            )
        }),
        _ => None,
    };
    found.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use events::catalog::content::{CommentAdded, PostBody, PostLiked};
    use events::catalog::users::Followed;
    use events::ids::CommentId;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn liked(by: &str, author: &str) -> DomainEvent {
        let post = PostId(uuid::Uuid::nil());
        DomainEvent::Content(ContentEvent::PostLiked(PostLiked { post, user: user(by), author: user(author) }))
    }

    #[test]
    fn a_follow_and_a_like_notify_the_one_they_concern() {
        let followed =
            DomainEvent::Users(UserEvent::Followed(Followed { follower: user("ana"), followee: user("ben") }));
        let [notice] = notices(&followed, None).try_into().unwrap();
        assert_eq!(
            (notice.recipient, notice.actor, notice.kind),
            (user("ben"), user("ana"), NotificationKind::NewFollower)
        );
        let [notice] = notices(&liked("ana", "ben"), None).try_into().unwrap();
        assert_eq!((notice.recipient, notice.kind), (user("ben"), NotificationKind::PostLiked));
        assert_eq!(needs(&liked("ana", "ben")), Needs::Nothing);
    }

    #[test]
    fn a_comment_notifies_the_post_author_the_caller_looked_up() {
        let post = PostId(uuid::Uuid::nil());
        let body = PostBody { text: "nice".into(), media: vec![], hashtags: vec![], mentions: vec![], flagged: vec![] };
        let comment =
            CommentAdded { comment: CommentId(uuid::Uuid::nil()), post, author: user("ana"), reply_to: None, body };
        let event = DomainEvent::Content(ContentEvent::CommentAdded(comment));
        assert_eq!(needs(&event), Needs::PostAuthor(post));
        let [notice] = notices(&event, Some(&user("ben"))).try_into().unwrap();
        assert_eq!((notice.recipient, notice.kind), (user("ben"), NotificationKind::PostCommented));
        assert!(notices(&event, None).is_empty(), "a post that is gone tells no one");
    }

    #[test]
    fn nobody_hears_about_their_own_actions() {
        assert!(notices(&liked("ana", "ana"), None).is_empty());
    }
}

//! docs/events.md lists exactly the event types this build writes.

use events::{ChatEvent, ContentEvent, Context, NotificationEvent, UserEvent};

fn current(context: Context) -> &'static [(&'static str, u32)] {
    match context {
        Context::Users => UserEvent::CURRENT,
        Context::Content => ContentEvent::CURRENT,
        Context::Chat => ChatEvent::CURRENT,
        Context::Notifications => NotificationEvent::CURRENT,
    }
}

#[test]
fn the_event_catalogue_page_lists_every_current_type_and_no_other() {
    let page = include_str!("../../docs/events.md");
    let documented: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("| `pulse."))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let mut written = Vec::new();
    for context in Context::ALL {
        for (name, version) in current(context) {
            written.push(format!("{context}.{name}.v{version}"));
        }
    }
    for ty in &written {
        assert!(documented.contains(&ty.as_str()), "docs/events.md does not list pulse.{ty}");
    }
    for ty in &documented {
        assert!(written.iter().any(|w| w == ty), "docs/events.md lists pulse.{ty}, which this build does not write");
    }
}

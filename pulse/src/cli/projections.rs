//! `pulse projections status | rebuild | verify`: where each projection
//! stands, building one anew beside the live one, and checking the live one
//! against a fresh build.

use anyhow::bail;
use clap::Args;
use events::EventStore;
use indicatif::{ProgressBar, ProgressStyle};
use projectors::{Projector, ProjectorMetrics, Settings};
use read_models::Projection;
use read_store::AnyStore;
use std::sync::Arc;

/// Which projection.
#[derive(Args, Debug, Clone)]
pub struct NameArgs {
    /// Its name, as `pulse projections status` prints it.
    pub name: String,
}

/// Prints one line per projection and stream.
pub async fn status(log: &EventStore, store: &AnyStore) -> anyhow::Result<()> {
    let reactors = [
        (projectors::Reactions::NAME, projectors::Reactions::CONTEXTS),
        (feeds::NAME, feeds::CONTEXTS),
        (notifier::Notifier::NAME, notifier::Notifier::CONTEXTS),
        (notifier::Mailer::NAME, notifier::Mailer::CONTEXTS),
        (notifier::Pusher::NAME, notifier::Pusher::CONTEXTS),
        (notifier::Reminders::NAME, notifier::Reminders::CONTEXTS),
        (notifier::MissedMessages::NAME, notifier::MissedMessages::CONTEXTS),
    ];
    let rows =
        projectors::status::status(log, store, &read_models::all(), &reactors).await.map_err(anyhow::Error::msg)?;
    println!(
        "{:<12} {:>3} {:<14} {:>10} {:>10} {:>10} {:>10}  state",
        "projection", "gen", "stream", "applied", "head", "lag", "lag s"
    );
    for row in rows {
        println!(
            "{:<12} {:>3} {:<14} {:>10} {:>10} {:>10} {:>10.1}  {}",
            row.projection,
            row.generation.0,
            row.context.as_str(),
            row.applied,
            row.head,
            row.lag_events,
            row.lag_seconds,
            row.state()
        );
    }
    Ok(())
}

/// Rebuilds one projection, with a progress bar on stderr.
pub async fn rebuild(log: EventStore, store: AnyStore, args: &NameArgs) -> anyhow::Result<()> {
    let projection = named(&args.name)?;
    let projector = Projector::new(log, store, ProjectorMetrics::default(), Settings::default());
    let bar = ProgressBar::new(0)
        .with_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events, {per_sec}, ETA {eta}")?);
    bar.set_message(format!("rebuilding {}", projection.name()));
    let done = projectors::rebuild::rebuild(&projector, &projection, |applied, total| {
        bar.set_length(total);
        bar.set_position(applied.min(total));
    })
    .await?;
    bar.finish();
    println!("{}: generation {} is live (was {}); the old one is dropped", projection.name(), done.to.0, done.from.0);
    Ok(())
}

/// Compares the live model with a fresh build; fails when they differ.
pub async fn verify(log: EventStore, store: AnyStore, args: &NameArgs) -> anyhow::Result<()> {
    let projection = named(&args.name)?;
    let projector = Projector::new(log, store, ProjectorMetrics::default(), Settings::default());
    let differences = projectors::rebuild::verify(&projector, &projection).await?;
    for difference in &differences {
        let show = |doc: &Option<read_store::Document>| match doc {
            Some(doc) => serde_json::Value::Object(doc.clone()).to_string(),
            None => "(missing)".to_owned(),
        };
        println!("{}/{}", difference.collection, difference.id);
        println!("  live:    {}", show(&difference.live));
        println!("  rebuilt: {}", show(&difference.rebuilt));
    }
    if !differences.is_empty() {
        bail!("{}: {} documents differ from a rebuild", projection.name(), differences.len());
    }
    println!("{}: the live model equals a rebuild from the log", projection.name());
    Ok(())
}

fn named(name: &str) -> anyhow::Result<Arc<dyn Projection>> {
    let all = read_models::all();
    let names: Vec<_> = all.iter().map(|p| p.name()).collect();
    match all.iter().find(|p| p.name() == name) {
        Some(projection) => Ok(projection.clone()),
        None => bail!("no projection named {name:?}; there are: {}", names.join(", ")),
    }
}

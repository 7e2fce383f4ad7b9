//! `pulse projections status`: each projection's position and lag.

use events::EventStore;
use read_store::AnyStore;

/// Prints one line per projection and stream.
pub async fn status(log: &EventStore, store: &AnyStore) -> anyhow::Result<()> {
    let rows = projectors::status::status(log, store, &read_models::all()).await.map_err(anyhow::Error::msg)?;
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

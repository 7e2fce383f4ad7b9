//! Starting services: each binds its address and runs until the shared stop
//! signal. `pulse all` runs every one of them in this process.

use crate::config::{ChatGatewayArgs, CommandApiArgs, Config, NotifierArgs, ProjectorArgs};
use anyhow::Context as _;
use events::{EventStore, StoreError};
use read_store::{AnyStore, ReadStore};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connects to NATS and makes sure the streams exist. Refuses a server older
/// than [`events::MIN_NATS_VERSION`].
pub async fn event_store(config: &Config, source: &str) -> anyhow::Result<EventStore> {
    let store_config = config.store(source)?;
    match EventStore::connect(&config.nats_url, store_config).await {
        Ok(store) => Ok(store),
        // Already says which server, what it is and what to do; the hint
        // below would send the reader after the wrong problem.
        Err(too_old @ StoreError::ServerTooOld { .. }) => Err(too_old.into()),
        Err(other) => Err(anyhow::Error::new(other)
            .context(format!("event store at {} (is nats-server running with -js?)", config.nats_url))),
    }
}

/// Runs the command API, with its queries over `reads` (or the configured
/// read store), until `stop` fires.
pub async fn command_api(
    config: &Config,
    args: &CommandApiArgs,
    reads: Option<AnyStore>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Settings first: a refused secret must not leave a database behind.
    let api_config = args.config(config)?;
    let reads = match reads {
        Some(reads) => reads,
        None => config.read_store().await?,
    };
    let store = event_store(config, "/pulse/command-api").await?;
    let projections = read_models::all();
    let feed_reactor = [(feeds::NAME, feeds::CONTEXTS)];
    let progress = projectors::Progress::start(&store, &reads, &projections, &feed_reactor)
        .await
        .map_err(anyhow::Error::msg)
        .context("reading the projections' progress")?;
    let feeds = config.feeds().await?.with_first_pages(args.feed_cache_pages());
    let reads = command_api::reads::Reads::new(reads, progress, args.read_cache(), args.read_wait(), feeds);
    let app = command_api::App::with_reads(store, api_config, ops::Metrics::new("command-api"), reads)?;
    let listener = bind("command API", &args.command_api_addr).await?;
    command_api::serve(listener, app, stopped(stop)).await?;
    Ok(())
}

/// Runs every projection into `reads` until `stop` fires, with /health,
/// /ready and /metrics on the projectors' address.
pub async fn projectors(
    config: &Config,
    args: &ProjectorArgs,
    reads: AnyStore,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let log = event_store(config, "/pulse/projectors").await?;
    let metrics = ops::Metrics::new("projectors");
    let projector_metrics = projectors::ProjectorMetrics::default();
    projector_metrics.register(&metrics);
    let listener = bind("projectors", &args.projectors_addr).await?;
    let feeds = config.feeds().await?;
    let (ready_log, ready_store, ready_feeds) = (log.clone(), reads.clone(), feeds.clone());
    let ready: ops::ReadyCheck = Arc::new(move || {
        let (log, store, feeds) = (ready_log.clone(), ready_store.clone(), ready_feeds.clone());
        Box::pin(async move {
            log.is_connected()?;
            feeds.ping().await.map_err(|e| e.to_string())?;
            store.ensure(&read_models::registry::collections()).await.map_err(|e| e.to_string())
        })
    });
    let projections = read_models::all();
    let reactions = projectors::Reactions::new(commands::Commands::new(log.clone(), commands::Settings::default()));
    let progress = projectors::Progress::start(&log, &reads, &projections, &[])
        .await
        .map_err(anyhow::Error::msg)
        .context("reading the projections' progress")?;
    let feed_writer = feeds::FeedWriter::new(feeds, reads.clone(), progress);
    let reactors: Vec<Arc<dyn projectors::Reactor>> = vec![Arc::new(reactions), Arc::new(feed_writer)];
    let jobs = projectors::Job::all(&projections, reactors);
    let projector = projectors::Projector::new(log, reads, projector_metrics, args.settings());
    run_engine("projectors", listener, (ready, metrics, None), projector, &jobs, stop).await
}

/// Runs the chat gateway until `stop` fires; open sockets are told it is
/// going away.
pub async fn chat_gateway(config: &Config, args: &ChatGatewayArgs, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let jwt = config.jwt()?;
    let log = event_store(config, "/pulse/chat-gateway").await?;
    let metrics = ops::Metrics::new("chat-gateway");
    let settings = args.settings();
    let gateway = chat_gateway::Gateway::start(log, &config.redis_url, &jwt, settings, metrics, stop.clone())
        .await
        .context("starting the chat gateway (Redis at PULSE_REDIS_URL holds presence)")?;
    let listener = bind("chat gateway", &args.chat_gateway_addr).await?;
    chat_gateway::serve(listener, gateway, stopped(stop)).await?;
    Ok(())
}

/// Runs the notifier until `stop` fires, with /health, /ready and /metrics
/// on its address; its checkpoints live in `reads`.
pub async fn notifier(
    config: &Config,
    args: &NotifierArgs,
    reads: AnyStore,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let log = event_store(config, "/pulse/notifier").await?;
    let metrics = ops::Metrics::new("notifier");
    let projector_metrics = projectors::ProjectorMetrics::default();
    projector_metrics.register(&metrics);
    let listener = bind("notifier", &args.notifier_addr).await?;
    let (ready_log, ready_store) = (log.clone(), reads.clone());
    let ready: ops::ReadyCheck = Arc::new(move || {
        let (log, store) = (ready_log.clone(), ready_store.clone());
        Box::pin(async move {
            log.is_connected()?;
            store.ensure(&read_models::registry::collections()).await.map_err(|e| e.to_string())
        })
    });
    let (jobs, details) = notifier_jobs(config, args, &log, &reads, &metrics, &stop).await?;
    let projector = projectors::Projector::new(log, reads, projector_metrics, projectors::Settings::default());
    run_engine("notifier", listener, (ready, metrics, Some(details)), projector, &jobs, stop).await
}

/// The notifier's reactors, with the loops of their timers started, and
/// what its `/ready` tells of its channels.
async fn notifier_jobs(
    config: &Config,
    args: &NotifierArgs,
    log: &EventStore,
    reads: &AnyStore,
    metrics: &ops::Metrics,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<(Vec<projectors::Job>, serde_json::Value)> {
    let commands = commands::Commands::new(log.clone(), commands::Settings::default());
    let notifier_metrics = notifier::NotifierMetrics::default();
    notifier_metrics.register(metrics);
    let redis = presence::connect(&config.redis_url)
        .await
        .context("connecting to Redis at PULSE_REDIS_URL (presence and rate limits)")?;
    let limiter = notifier::RateLimiter::new(redis.clone(), &config.namespace, args.limits());
    let mailer = notifier::Mailer::new(commands.clone(), args.email(config)?, notifier_metrics.clone())
        .context("setting up email (PULSE_SMTP_URL, PULSE_SMTP_FROM)")?
        .with_limiter(limiter.clone())
        .with_quiet_hours(reads.clone())
        .await
        .context("declaring held emails in the read store")?;
    let pusher = notifier::Pusher::new(commands.clone(), args.push(), notifier_metrics)
        .context("setting up Web Push (PULSE_VAPID_PRIVATE_KEY)")?
        .with_limiter(limiter.clone())
        .with_quiet_hours(reads.clone())
        .await
        .context("declaring held pushes in the read store")?;
    if !mailer.is_configured() {
        tracing::warn!("email is not configured (PULSE_SMTP_URL): emails are recorded as skipped");
    }
    if pusher.public_key().is_none() {
        tracing::warn!("Web Push is not configured (PULSE_VAPID_PRIVATE_KEY): pushes are recorded as skipped");
    }
    let email = if mailer.is_configured() { "configured" } else { "not configured: emails are skipped" };
    let push = if pusher.public_key().is_some() { "configured" } else { "not configured: pushes are skipped" };
    let details = serde_json::json!({
        "channels": { "in_app": "on", "email": email, "push": push },
        "vapid_public_key": pusher.public_key(),
    });
    let reminders = notifier::Reminders::new(commands.clone(), reads.clone(), args.reminder_lead())
        .await
        .context("declaring the reminders' timers in the read store")?;
    let reminders = Arc::new(reminders.with_limiter(limiter.clone()));
    let (timers, timers_stop) = (reminders.clone(), stop.clone());
    tokio::spawn(async move { timers.run_timers(TIMER_TICK, timers_stop).await });
    let missed =
        notifier::MissedMessages::new(commands.clone(), reads.clone(), redis, &config.namespace, args.message_delay())
            .await
            .context("declaring the missed messages' timers in the read store")?;
    let missed = Arc::new(missed.with_limiter(limiter.clone()));
    let (timers, timers_stop) = (missed.clone(), stop.clone());
    tokio::spawn(async move { timers.run_timers(TIMER_TICK, timers_stop).await });
    let (mailer, pusher) = (Arc::new(mailer), Arc::new(pusher));
    let (held, held_stop) = (mailer.clone(), stop.clone());
    tokio::spawn(async move { held.run_held(TIMER_TICK, held_stop).await });
    let (held, held_stop) = (pusher.clone(), stop.clone());
    tokio::spawn(async move { held.run_held(TIMER_TICK, held_stop).await });
    let jobs = vec![
        projectors::Job::React(Arc::new(notifier::Notifier::new(commands).with_limiter(limiter))),
        projectors::Job::React(mailer),
        projectors::Job::React(pusher),
        projectors::Job::React(reminders),
        projectors::Job::React(missed),
    ];
    Ok((jobs, details))
}

/// How often the notifier looks for timers that fell due (reminders, missed
/// messages): one comes at most this late.
const TIMER_TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Binds a service's address and logs where it listens, as `<service>
/// listening` with the address (what operators and the tests look for).
async fn bind(service: &str, address: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(address).await.with_context(|| format!("binding the {service} to {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "{service} listening");
    Ok(listener)
}

/// Runs `jobs` on the projectors' engine until `stop`, with `service`'s
/// /health, /ready and /metrics on `listener`: every service built on the
/// engine (the projectors, the notifier) has this shape.
async fn run_engine(
    service: &'static str,
    listener: TcpListener,
    (ready, metrics, details): (ops::ReadyCheck, ops::Metrics, Option<serde_json::Value>),
    projector: projectors::Projector<AnyStore>,
    jobs: &[projectors::Job],
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let probes: axum::Router = ops::router_with_details(service, ready, metrics, details);
    let server = axum::serve(listener, probes).with_graceful_shutdown(stopped(stop.clone()));
    let (served, ran) = tokio::join!(server, projector.run(jobs, stop));
    served?;
    ran?;
    Ok(())
}

/// Resolves when the stop signal fires (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A stop signal that fires on Ctrl-C or SIGTERM.
pub fn on_shutdown() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = sender.send(true);
    });
    receiver
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = terminate.recv() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

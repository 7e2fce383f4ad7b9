//! Running one projection: a task per stream it reads, each pulling batches
//! from its shared durable consumer, writing them with their checkpoint, and
//! acknowledging the batch once it is stored.
//!
//! The order of each stream is kept end to end: one process at a time
//! receives a consumer's events (pinned client), a batch is stored before the
//! next is taken, and a failed store write is retried in place rather than
//! left for redelivery, which would come back behind later events.

use crate::job::{Job, ProjectorError, Reactor, durable};
use crate::metrics::{Labels, ProjectorMetrics};
use crate::progress::{self, Notice};
use events::EventStore;
use events::catalog::Context;
use events::store::{Delivery, Recorded, Start, StoreError, Subscribe, Subscription};
use read_models::{Event, Generation, Projection, registry};
use read_store::{ReadStore, Write};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How projectors read.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The most events stored in one batch.
    pub batch: usize,
    /// The most events stored in one batch while catching up (a rebuild, a
    /// verify, a projector behind its consumer): the events are there
    /// already, and fewer, larger commits write each hot page once.
    pub catch_up_batch: usize,
    /// How long JetStream waits for a batch's ack before it delivers again.
    pub ack_wait: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { batch: 256, catch_up_batch: 16_384, ack_wait: Duration::from_secs(30) }
    }
}

/// Runs projections over one event log into one read store.
#[derive(Clone)]
pub struct Projector<S> {
    log: EventStore,
    store: S,
    metrics: ProjectorMetrics,
    settings: Settings,
}

impl<S: ReadStore + Clone> Projector<S> {
    /// A projector; nothing runs until [`Projector::run`].
    pub fn new(log: EventStore, store: S, metrics: ProjectorMetrics, settings: Settings) -> Self {
        Self { log, store, metrics, settings }
    }

    /// Runs every job, each stream of each on its own task, until `stop`
    /// fires. When a rebuild makes another generation of a projection live,
    /// its streams move to that generation. Start-up failures (the store
    /// refuses the collections) end it with an error; failures while running
    /// are retried.
    pub async fn run(&self, jobs: &[Job], mut stop: watch::Receiver<bool>) -> Result<(), ProjectorError> {
        let projections: Vec<_> =
            jobs.iter().filter_map(|job| if let Job::Project(p) = job { Some(p.clone()) } else { None }).collect();
        registry::declare(&self.store, &projections).await?;
        crate::life::settle(&self.log, &self.store, jobs).await?;
        let mut live = crate::live::watch(&self.log, &self.store, &projections).await.map_err(ProjectorError::Live)?;
        let mut tasks = JoinSet::new();
        let mut running: HashMap<&'static str, (Generation, watch::Sender<bool>)> = HashMap::new();
        loop {
            let generations = live.borrow_and_update().clone();
            for job in jobs {
                // Reactions are never rebuilt: they stay in the first generation.
                let generation = generations.get(job.name()).copied().unwrap_or(Generation::FIRST);
                if running.get(job.name()).is_some_and(|(current, _)| *current == generation) {
                    continue;
                }
                if let Job::Project(projection) = job {
                    self.store.ensure(&generation.collections(projection.as_ref())).await?;
                }
                let (halt, halted) = watch::channel(false);
                if let Some((_, previous)) = running.insert(job.name(), (generation, halt)) {
                    let _ = previous.send(true);
                }
                for &context in job.contexts() {
                    let stream = Stream {
                        projector: self.clone(),
                        job: job.clone(),
                        generation,
                        context,
                        labels: Labels { projection: job.name().to_owned(), context: context.as_str().to_owned() },
                    };
                    tasks.spawn(stream.run(halted.clone()));
                }
            }
            tokio::select! {
                changed = live.changed() => if changed.is_err() { break },
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        for (_, halt) in running.values() {
            let _ = halt.send(true);
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Builds `generation` of `projection` from its checkpoints up to `until`
    /// in each context, reading with throwaway consumers.
    pub async fn build(
        &self,
        projection: &Arc<dyn Projection>,
        generation: Generation,
        until: &[(Context, u64)],
    ) -> Result<(), ProjectorError> {
        self.store.ensure(&generation.collections(projection.as_ref())).await?;
        let builds = until.iter().map(|&(context, until)| {
            let stream = Stream {
                projector: self.clone(),
                job: Job::Project(projection.clone()),
                generation,
                context,
                labels: Labels { projection: projection.name().to_owned(), context: context.as_str().to_owned() },
            };
            async move {
                let applied =
                    registry::checkpoint(&stream.projector.store, projection.name(), generation, context).await?;
                stream.catch_up(applied.sequence, until).await.map_err(ProjectorError::Build)
            }
        });
        futures::future::try_join_all(builds).await.map(drop)
    }

    /// The read store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The event log.
    pub fn log(&self) -> &EventStore {
        &self.log
    }
}

/// An event read from the log, or why it could not be.
type Read = Result<Recorded, StoreError>;

/// An event of a batch with its sequence.
type Item<'a> = (u64, &'a Read);

/// One projection's generation reading one stream.
struct Stream<S> {
    projector: Projector<S>,
    job: Job,
    generation: Generation,
    context: Context,
    labels: Labels,
}

/// Pause after a failure before trying again: long enough not to spin on a
/// dead server, short enough that recovery shows within seconds.
const RETRY: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

impl<S: ReadStore + Clone> Stream<S> {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let durable = durable(self.job.name(), self.generation, self.context);
        let mut pause = RETRY;
        while !*stop.borrow() {
            let outcome = tokio::select! {
                outcome = self.consume(&durable) => outcome,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match outcome {
                Ok(()) => pause = RETRY,
                Err(e) => {
                    tracing::warn!(error = %e, projection = self.job.name(), context = %self.context, "projector paused");
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Reads batches until the subscription ends or fails.
    async fn consume(&self, durable: &str) -> Result<(), String> {
        let store = &self.projector.store;
        let name = self.job.name();
        let mut applied =
            registry::checkpoint(store, name, self.generation, self.context).await.map_err(|e| e.to_string())?.sequence;
        // A new consumer (a generation just built) starts after its
        // checkpoint; an existing one resumes where it was.
        let subscribe = Subscribe {
            context: self.context,
            filter: None,
            start: Start::At(applied + 1),
            ack_wait: self.projector.settings.ack_wait,
        };
        let mut subscription = self.projector.log.share(durable, subscribe).await.map_err(|e| e.to_string())?;
        // A model behind its consumer (a store wiped or replaced, a crash
        // before a batch was stored) reads what the consumer handed out before.
        applied = self.catch_up(applied, subscription.handed_out()).await?;
        // Until the first delivery says otherwise, the lag is what the stream
        // holds beyond the checkpoint.
        let head = self.projector.log.head(self.context).await.map_err(|e| e.to_string())?;
        let waiting = i64::try_from(head.saturating_sub(applied)).unwrap_or(i64::MAX);
        self.projector.metrics.lag_events.get_or_create(&self.labels).set(waiting);
        loop {
            let batch = subscription.next_batch(self.projector.settings.batch).await;
            if batch.is_empty() {
                return Err("the subscription ended".into());
            }
            let mut deliveries = Vec::with_capacity(batch.len());
            let mut failure = None;
            for item in batch {
                match item {
                    Ok(delivery) => deliveries.push(delivery),
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            if let Some(last) = deliveries.last() {
                let first_new = deliveries.iter().map(|d| d.sequence).filter(|s| *s > applied).min();
                if let Some(first) = first_new.filter(|first| *first > applied + 1) {
                    // After a hand-over the consumer delivers what follows the
                    // last event it *sent*; the unacknowledged ones in front
                    // come back only after the ack wait, and applied then,
                    // behind later events, their marks would hold them back.
                    applied = self.catch_up(applied, first - 1).await?;
                }
                let mut events: Vec<Item<'_>> = deliveries.iter().map(|d| (d.sequence, &d.recorded)).collect();
                // A redelivery can arrive behind later events: stream order,
                // each event once.
                events.sort_by_key(|(sequence, _)| *sequence);
                events.dedup_by_key(|(sequence, _)| *sequence);
                applied = self.store_batch(&events, applied).await;
                // Acknowledges the whole batch (ack policy "all"). A lost
                // ack means the batch comes again, and its marks hold it back.
                if let Err(e) = last.ack().await {
                    tracing::debug!(error = %e, "batch ack not confirmed");
                }
                self.report_lag(last);
            }
            if let Some(failure) = failure {
                return Err(failure);
            }
        }
    }

    /// Applies the events after `applied` up to `until`, read from the stream
    /// in order with a throwaway consumer; the new checkpoint.
    async fn catch_up(&self, applied: u64, until: u64) -> Result<u64, String> {
        if until <= applied {
            return Ok(applied);
        }
        self.projector.metrics.catch_ups.get_or_create(&self.labels).inc();
        let name = self.job.name();
        tracing::info!(from = applied + 1, until, projection = name, context = %self.context, "catching up from the stream");
        let from = Subscribe { start: Start::At(applied + 1), ..Subscribe::all(self.context) };
        let tail = self.projector.log.tail(from).await.map_err(|e| e.to_string())?;
        let size = self.projector.settings.catch_up_batch.max(1);
        let mut ahead = ReadAhead::start(tail, size);
        // One batch is stored while the next is read and turned into writes:
        // the store's thread and this task work at the same time.
        let (mut stored, mut prepared) = (applied, applied);
        let mut in_flight: Option<Batch> = None;
        loop {
            let store = async {
                match in_flight.take() {
                    Some(batch) => self.store(batch).await,
                    None => stored,
                }
            };
            let next = async {
                let deliveries = ahead.next_batch(size).await;
                let mut events = Vec::with_capacity(deliveries.len());
                for delivery in &deliveries {
                    match delivery {
                        Ok(delivery) if delivery.sequence <= until => {
                            events.push((delivery.sequence, &delivery.recorded))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                let reached = deliveries.iter().flatten().map(|d| d.sequence).max();
                let Some(reached) = reached else { return Err("the stream ended while catching up".to_owned()) };
                Ok((self.prepare(&events, prepared).await, reached))
            };
            let (now, next) = tokio::join!(store, next);
            stored = now;
            let (batch, reached) = next?;
            if let Some(batch) = &batch {
                prepared = batch.sequence;
            }
            in_flight = batch;
            if reached >= until {
                if let Some(batch) = in_flight.take() {
                    stored = self.store(batch).await;
                }
                return Ok(stored.max(until));
            }
        }
    }

    /// Stores the writes of the events after `applied`, in order, with the
    /// checkpoint, retrying until the store takes them; the new checkpoint.
    async fn store_batch(&self, events: &[Item<'_>], applied: u64) -> u64 {
        match self.prepare(events, applied).await {
            Some(batch) => self.store(batch).await,
            None => applied,
        }
    }

    /// The writes of the events after `applied` with the checkpoint last, or
    /// `None` when there is no such event. A reactor acts on each event here.
    async fn prepare(&self, events: &[Item<'_>], applied: u64) -> Option<Batch> {
        let name = self.job.name();
        let metrics = &self.projector.metrics;
        let mut writes = Vec::new();
        let mut last = None;
        let mut count = 0_u64;
        for &(sequence, read) in events.iter().filter(|(sequence, _)| *sequence > applied) {
            count += 1;
            match read {
                Ok(recorded) => {
                    match &self.job {
                        Job::Project(projection) => {
                            let event = Event { event: &recorded.event, sequence, time: recorded.envelope.time };
                            writes.extend(self.generation.stamp(projection.apply(event), self.context, sequence));
                        }
                        Job::React(reactor) => self.react_until_done(reactor.as_ref(), recorded).await,
                    }
                    last = Some((sequence, recorded.envelope.time));
                }
                Err(e) => {
                    // A poison event must not stop the stream; it is counted
                    // and logged, and `pulse events show` can inspect it.
                    tracing::error!(error = %e, sequence, projection = name, "unreadable event skipped");
                    metrics.unreadable.get_or_create(&self.labels).inc();
                    last = Some((sequence, last.map_or(OffsetDateTime::UNIX_EPOCH, |(_, time)| time)));
                }
            }
        }
        let (sequence, time) = last?;
        let time = time.format(&Rfc3339).unwrap_or_default();
        writes.push(registry::advance(name, self.generation, self.context, sequence, &time));
        Some(Batch { writes: writes.into(), count, after: applied, sequence })
    }

    /// Stores a prepared batch, retrying until the store takes it, and
    /// announces it; the new checkpoint.
    async fn store(&self, batch: Batch) -> u64 {
        let metrics = &self.projector.metrics;
        self.write_until_stored(&batch.writes).await;
        metrics.applied.get_or_create(&self.labels).inc_by(batch.count);
        metrics.batch_size.observe(batch.count as f64);
        let notice = Notice {
            generation: self.generation.0,
            context: self.context,
            sequence: batch.sequence,
            after: batch.after,
            changed: progress::changed(&batch.writes),
        };
        progress::announce(&self.projector.log, self.job.name(), &notice).await;
        batch.sequence
    }

    /// Hands an event to a reactor, retrying until it is handled: the next
    /// event must not go first.
    async fn react_until_done(&self, reactor: &dyn Reactor, recorded: &Recorded) {
        let mut pause = RETRY;
        while let Err(e) = reactor.react(recorded).await {
            let sequence = recorded.position.sequence;
            tracing::warn!(error = %e, sequence, reactor = reactor.name(), "an event was not handled; retrying");
            self.projector.metrics.store_retries.get_or_create(&self.labels).inc();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    async fn write_until_stored(&self, writes: &Arc<[Write]>) {
        let mut pause = RETRY;
        while let Err(e) = self.projector.store.write_shared(writes.clone()).await {
            tracing::warn!(error = %e, projection = self.job.name(), "read store write failed; retrying");
            self.projector.metrics.store_retries.get_or_create(&self.labels).inc();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    fn report_lag(&self, last: &Delivery) {
        let metrics = &self.projector.metrics;
        metrics.lag_events.get_or_create(&self.labels).set(i64::try_from(last.pending).unwrap_or(i64::MAX));
        let behind = match (&last.recorded, last.pending) {
            (Ok(recorded), 1..) => (OffsetDateTime::now_utc() - recorded.envelope.time).as_seconds_f64().max(0.0),
            _ => 0.0,
        };
        metrics.lag_seconds.get_or_create(&self.labels).set(behind);
    }
}

/// A batch of events turned into writes, the checkpoint last.
struct Batch {
    /// Shared with the store, which may apply them on a thread of its own.
    writes: Arc<[Write]>,
    /// The events it covers.
    count: u64,
    /// The checkpoint before it.
    after: u64,
    /// The last of its events.
    sequence: u64,
}

/// Reads a throwaway subscription on a task of its own, up to `2 * size`
/// deliveries ahead. A pull consumer asks the server for more only while it is
/// polled, so read inline it would stall while each batch is stored; read
/// ahead, the next batch arrives (and is decoded, on another core) meanwhile,
/// and a batch holds whatever the store's last write let pile up.
struct ReadAhead {
    deliveries: tokio::sync::mpsc::Receiver<Result<Delivery, StoreError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    fn start(mut tail: Subscription, size: usize) -> Self {
        let (sender, deliveries) = tokio::sync::mpsc::channel(2 * size);
        let reader = tokio::spawn(async move {
            while let Some(delivery) = tail.next().await {
                let failed = delivery.is_err();
                if sender.send(delivery).await.is_err() || failed {
                    return;
                }
            }
        });
        Self { deliveries, reader }
    }

    /// The next deliveries, at least one and at most `max`, unless the
    /// subscription ended (then none).
    async fn next_batch(&mut self, max: usize) -> Vec<Result<Delivery, StoreError>> {
        let mut batch = Vec::with_capacity(max);
        self.deliveries.recv_many(&mut batch, max).await;
        batch
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

//! The embedded backend: one SQLite file (or memory, for tests), bundled into
//! the binary, no server. Each collection is a table `rs_<name>` of
//! `(id TEXT PRIMARY KEY, doc TEXT, f_<field>...)`: the JSON, and one column
//! per field an index names, holding the value `json_extract` would give. One
//! index `rs_<name>__by__<field>__...` per declared index (its columns, then
//! `id`) makes a filtered, sorted page one index range. A full-text table
//! `rs_<name>__words` (FTS5, contentless) holds each document's `tokens`
//! array under the row's rowid, so a search is index lookups rather than a
//! scan of every array. Names never hold `__`, so these cannot collide.
//!
//! Columns rather than indexes on `json_extract(doc, ...)`: SQLite rewrites an
//! index whenever a column it reads is set, and every expression index reads
//! `doc`. With columns, a write sets only the columns whose value changed, so
//! a like or a comment (a counter) rewrites the row and no index entry.
//!
//! FTS5 rather than a table of `(token, id)` rows: a post of twenty words was
//! twenty inserts scattered over that table's pages, a fifth of a rebuild's
//! time, where FTS5 gathers a transaction's words in memory and writes them
//! as one segment at commit. FTS5 only indexes, never interprets: each word
//! is stored and searched as `x` and its bytes in hex ([`fts_word`]), one
//! token to any tokenizer, so a word matches itself and nothing else, exactly
//! as MongoDB compares array elements. The words are tied to rows by rowid,
//! which a `VACUUM` may renumber: the store never vacuums, and an operator
//! who wants the space back deletes the file and lets the projectors refill
//! it from the log.
//!
//! rusqlite is blocking and a connection is not `Sync`, so each connection
//! lives on a thread of its own and calls reach it through a queue, answered
//! over a oneshot channel. Chosen over `spawn_blocking` with a mutex: SQLite
//! allows one writer anyway, the writer's queue keeps writes in the order they
//! were made, prepared statements stay warm on their thread, and a slow disk
//! holds a fixed set of threads, not a growing share of tokio's blocking pool.
//!
//! A file database has one writer thread and a few reader threads with
//! read-only connections sharing one queue: WAL lets them read beside the
//! writer, so queries do not wait behind a projection's batch, nor behind one
//! another. A read that takes several statements (a page, a batch of
//! documents) runs in one read transaction, so it sees one state of the
//! model. A write returns after its commit, so a read that starts afterwards
//! sees it. An in-memory database exists only inside its one connection, so
//! there everything runs on the writer.
//!
//! Only checked names (see [`crate::model`]) are written into SQL; every
//! value, id and cursor part is a bound parameter.

use crate::cursor::{self, Position};
use crate::model::{
    Change, Collection, Direction, Document, Filter, Found, IfMissing, Page, Query, TOKENS_FIELD, Write, apply_updates,
    check_document, check_id, check_ids,
};
use crate::{ReadStore, ReadStoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params, params_from_iter};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;
use tokio::sync::oneshot;

/// A read-model store in one SQLite database. Cheap to clone: clones share the
/// connections' threads, which end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    /// The read-only connections' shared queue; none for a database in memory.
    readers: Option<mpsc::Sender<Job>>,
}

type Job = Box<dyn FnOnce(&mut State) + Send>;

/// Declared by `ensure`: the only collections and fields queries may name.
/// The writer changes it, every connection's thread checks calls against it.
type Declared = Arc<RwLock<HashMap<String, Collection>>>;

/// What one connection's thread owns.
struct State {
    conn: Connection,
    declared: Declared,
    /// The writer's: each table's field columns, which every write fills.
    columns: HashMap<String, Vec<String>>,
}

impl State {
    fn new(conn: Connection, declared: Declared) -> Self {
        Self { conn, declared, columns: HashMap::new() }
    }
}

/// Reader threads of a file database: enough for the cores that serve
/// queries, few enough that each keeps its statements and pages warm.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from).clamp(2, 4)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, in WAL mode,
    /// with a writer and a few readers.
    pub fn open(path: &Path) -> Result<Self, ReadStoreError> {
        let declared = Declared::default();
        let checkpoints = start_checkpointer(Connection::open(path).map_err(unavailable)?)?;
        let writer = start_writer(Connection::open(path).map_err(unavailable)?, declared.clone(), Some(checkpoints))?;
        let (readers, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..reader_count() {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
            conn.busy_timeout(Duration::from_secs(5)).map_err(unavailable)?;
            conn.set_prepared_statement_cache_capacity(128);
            let (queue, mut state) = (queue.clone(), State::new(conn, declared.clone()));
            spawn(&format!("read-store-sqlite-r{n}"), move || {
                loop {
                    // The lock is held only to take a job, never to run one.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    job(&mut state);
                }
            })?;
        }
        Ok(Self { writer, readers: Some(readers) })
    }

    /// A private database in memory, gone when the store is dropped: for tests.
    pub fn in_memory() -> Result<Self, ReadStoreError> {
        let writer = start_writer(Connection::open_in_memory().map_err(unavailable)?, Declared::default(), None)?;
        Ok(Self { writer, readers: None })
    }

    /// Runs `work` on the writer's thread and waits for its answer.
    async fn write_call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut State) -> Result<T, ReadStoreError> + Send + 'static,
    ) -> Result<T, ReadStoreError> {
        call(&self.writer, work).await
    }

    /// Runs `work` on a reader's thread (the writer's, in memory), inside one
    /// read transaction, and waits for its answer.
    async fn read_call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&State, &Connection) -> Result<T, ReadStoreError> + Send + 'static,
    ) -> Result<T, ReadStoreError> {
        call(self.readers.as_ref().unwrap_or(&self.writer), move |state| {
            // Deferred: a snapshot taken at the first read, never a lock.
            let tx = state.conn.unchecked_transaction().map_err(unavailable)?;
            let answer = work(state, &tx);
            // Ending a read transaction either way releases its snapshot.
            tx.rollback().map_err(unavailable)?;
            answer
        })
        .await
    }
}

/// The writer's thread; after each job it nudges the `checkpoints` thread,
/// if there is one.
fn start_writer(
    conn: Connection,
    declared: Declared,
    checkpoints: Option<mpsc::SyncSender<()>>,
) -> Result<mpsc::Sender<Job>, ReadStoreError> {
    // WAL lets readers (this store's own, and an operator's `verify` in
    // another process) run beside the writer; NORMAL sync is safe in WAL
    // against a crash of Pulse, and a power cut costs at most the last
    // transactions of a model that is rebuilt from the log anyway.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
    conn.pragma_update(None, "cache_size", -65536).map_err(unavailable)?;
    // The checkpointer's thread copies the WAL into the database as batches
    // land; what it has copied, this thread's own checkpoint (every 32 MB of
    // WAL, 8192 pages) skips. That one is still needed: only a checkpoint
    // that copied everything, with no write after it, lets the next write
    // start the WAL over, and the checkpointer, racing the writer, rarely
    // gets there under a steady load. It copies little and holds up the next
    // batch briefly; all of it here put 30 to 100 ms pauses into live
    // projections and made rebuilds wait.
    conn.pragma_update(None, "wal_autocheckpoint", 8192).map_err(unavailable)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(128);
    let (jobs, queue) = mpsc::channel::<Job>();
    let mut state = State::new(conn, declared);
    spawn("read-store-sqlite-w", move || {
        while let Ok(job) = queue.recv() {
            job(&mut state);
            if let Some(checkpoints) = &checkpoints {
                // Full: a nudge is already waiting, which is enough.
                let _ = checkpoints.try_send(());
            }
        }
    })?;
    Ok(jobs)
}

/// How long the checkpointer lets nudges gather after a checkpoint: under a
/// steady load, one checkpoint (and one sync of the database file) per
/// interval rather than per batch.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// A thread with a connection of its own that copies the WAL into the
/// database whenever the writer nudges it, so the writer rarely does. Passive
/// checkpoints wait on nobody: they copy what no reader still needs and leave
/// the rest for the next one. Ends with the writer, which holds the sender.
fn start_checkpointer(conn: Connection) -> Result<mpsc::SyncSender<()>, ReadStoreError> {
    let (nudge, nudged) = mpsc::sync_channel::<()>(1);
    spawn("read-store-sqlite-c", move || {
        while nudged.recv().is_ok() {
            let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(0));
            if let Err(error) = checkpoint {
                // The writer's own checkpoints go on; this one is only help.
                tracing::warn!(%error, "the read store's background checkpoint failed");
            }
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    })?;
    Ok(nudge)
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), ReadStoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
        .map_err(|e| ReadStoreError::Unavailable(format!("cannot start a SQLite thread: {e}")))
}

/// Queues `work` for a connection's thread and waits for its answer.
async fn call<T: Send + 'static>(
    jobs: &mpsc::Sender<Job>,
    work: impl FnOnce(&mut State) -> Result<T, ReadStoreError> + Send + 'static,
) -> Result<T, ReadStoreError> {
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move |state| {
        // The caller may have given up (its future dropped); nobody to tell.
        let _ = answer.send(work(state));
    });
    let stopped = || ReadStoreError::Unavailable("the SQLite threads have stopped".into());
    jobs.send(job).map_err(|_| stopped())?;
    answered.await.map_err(|_| stopped())?
}

impl State {
    /// Runs `check` on the declaration of collection `name`.
    fn declared<T>(
        &self,
        name: &str,
        check: impl FnOnce(&Collection) -> Result<T, ReadStoreError>,
    ) -> Result<T, ReadStoreError> {
        let declared = self.declared.read().map_err(|_| poisoned())?;
        check(declared.get(name).ok_or_else(|| ReadStoreError::UnknownCollection(name.to_owned()))?)
    }
}

fn poisoned() -> ReadStoreError {
    ReadStoreError::Unavailable("a SQLite thread panicked".into())
}

impl ReadStore for SqliteStore {
    async fn ensure(&self, collections: &[Collection]) -> Result<(), ReadStoreError> {
        collections.iter().try_for_each(Collection::check)?;
        let collections = collections.to_vec();
        self.write_call(move |state| {
            let tx = state.conn.transaction().map_err(unavailable)?;
            let mut columns = Vec::new();
            for collection in &collections {
                columns.push((collection.name.clone(), create(&tx, collection)?));
            }
            tx.commit().map_err(unavailable)?;
            state.columns.extend(columns);
            let mut known = state.declared.write().map_err(|_| poisoned())?;
            for collection in collections {
                let declared =
                    known.entry(collection.name.clone()).or_insert_with(|| Collection::new(&collection.name));
                for index in collection.indexes {
                    if !declared.indexes.contains(&index) {
                        declared.indexes.push(index);
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Document>, ReadStoreError> {
        check_id(id)?;
        let (name, id) = (collection.to_owned(), id.to_owned());
        self.read_call(move |state, conn| {
            state.declared(&name, |_| Ok(()))?;
            read(conn, &name, &id)
        })
        .await
    }

    async fn get_many(&self, collection: &str, ids: &[String]) -> Result<Vec<Option<Document>>, ReadStoreError> {
        check_ids(ids)?;
        let (name, ids) = (collection.to_owned(), ids.to_vec());
        // One job on a connection's thread: the queue hop, not the lookup,
        // is what a read costs most.
        self.read_call(move |state, conn| {
            state.declared(&name, |_| Ok(()))?;
            ids.iter().map(|id| read(conn, &name, id)).collect()
        })
        .await
    }

    async fn write(&self, writes: &[Write]) -> Result<u64, ReadStoreError> {
        self.write_shared(writes.into()).await
    }

    async fn write_shared(&self, writes: Arc<[Write]>) -> Result<u64, ReadStoreError> {
        writes.iter().try_for_each(Write::check)?;
        self.write_call(move |state| {
            // One transaction for the whole batch: SQLite gives atomicity for
            // free, and one commit (one fsync) instead of one per write is
            // most of a projection's speed.
            for write in writes.iter() {
                state.declared(&write.collection, |_| Ok(()))?;
            }
            let tx = state.conn.transaction().map_err(unavailable)?;
            let mut changed = 0;
            for write in writes.iter() {
                let columns = state.columns.get(&write.collection).map_or(&[][..], Vec::as_slice);
                changed += u64::from(apply(&tx, write, columns)?);
            }
            tx.commit().map_err(unavailable)?;
            Ok(changed)
        })
        .await
    }

    async fn drop_collection(&self, collection: &str) -> Result<(), ReadStoreError> {
        Collection::new(collection).check()?;
        let name = collection.to_owned();
        self.write_call(move |state| {
            // Forgotten first, so no reader starts on a table about to go.
            state.declared.write().map_err(|_| poisoned())?.remove(&name);
            state.columns.remove(&name);
            // Dropping a table drops its indexes with it.
            let sql = format!(
                r#"DROP TABLE IF EXISTS "rs_{name}"; DROP TABLE IF EXISTS "rs_{name}__words";
                   DROP TABLE IF EXISTS "rs_{name}__tokens";"#
            );
            state.conn.execute_batch(&sql).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn find(&self, collection: &str, query: &Query) -> Result<Page, ReadStoreError> {
        let after = query.after.as_deref().map(|raw| cursor::decode(query, raw)).transpose()?;
        let (name, query) = (collection.to_owned(), query.clone());
        self.read_call(move |state, conn| {
            state.declared(&name, |c| c.check_query(&query.filter, Some(&query.order)))?;
            if query.filter.matches_nothing() {
                return Ok(Page { items: Vec::new(), next: None });
            }
            let size = query.page_size() as usize;
            let mut items = Vec::new();
            let mut more = false;
            for (sql, mut values) in page_sql(&name, &query, after) {
                // One row more than the page, to know whether another page
                // follows without handing out a cursor to an empty one.
                let wanted = size + 1 - items.len();
                values.push(SqlValue::Integer(i64::try_from(wanted).unwrap_or(i64::MAX)));
                let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
                let mut rows = statement.query(params_from_iter(values)).map_err(unavailable)?;
                while let Some(row) = rows.next().map_err(unavailable)? {
                    if items.len() == size {
                        more = true;
                        break;
                    }
                    let id: String = row.get(0).map_err(unavailable)?;
                    let doc = parse(&row.get::<_, String>(1).map_err(unavailable)?)?;
                    items.push(Found { id, doc });
                }
                if more {
                    break;
                }
            }
            let last_key = |found: &Found| found.doc.get(&query.order.field).cloned().unwrap_or(Value::Null);
            let next = match items.last() {
                Some(last) if more => Some(cursor::encode(&query, &last_key(last), &last.id)),
                _ => None,
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn count(&self, collection: &str, filter: &Filter) -> Result<u64, ReadStoreError> {
        let (name, filter) = (collection.to_owned(), filter.clone());
        self.read_call(move |state, conn| {
            state.declared(&name, |c| c.check_query(&filter, None))?;
            if filter.matches_nothing() {
                return Ok(0);
            }
            let (conditions, values) = where_filter(&name, &filter);
            let sql = format!(r#"SELECT count(*) FROM "rs_{name}" {}"#, where_clause(&conditions));
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let count: i64 = statement.query_row(params_from_iter(values), |row| row.get(0)).map_err(unavailable)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }
}

/// The statements that read one page of `query`, in turn, each with its
/// parameters but the limit. Each is one index range in index order: paging
/// deep costs a seek, not a walk over the earlier pages.
///
/// SQLite, like MongoDB, sorts a missing field (NULL) first ascending and last
/// descending. A position cannot be one range when the rows after it are
/// values and then NULLs (descending) or NULLs and then values (ascending
/// from a NULL), so those pages read two ranges, the second only when the
/// first did not fill the page.
fn page_sql(name: &str, query: &Query, after: Option<Position>) -> Vec<(String, Vec<SqlValue>)> {
    let key = column(&query.order.field);
    let (conditions, values) = where_filter(name, &query.filter);
    let segment = |extra: Option<String>, order: &str, more: Vec<SqlValue>| {
        let mut conditions = conditions.clone();
        conditions.extend(extra);
        let mut values = values.clone();
        values.extend(more);
        (format!(r#"SELECT id, doc FROM "rs_{name}" {} ORDER BY {order} LIMIT ?"#, where_clause(&conditions)), values)
    };
    let by_key_asc = format!("{key} ASC, id ASC");
    let by_key_desc = format!("{key} DESC, id DESC");
    let Some(after) = after else {
        let order = match query.order.direction {
            Direction::Ascending => by_key_asc,
            Direction::Descending => by_key_desc,
        };
        return vec![segment(None, &order, vec![])];
    };
    let id = SqlValue::Text(after.id);
    match (query.order.direction, after.value) {
        (Direction::Ascending, Value::Null) => vec![
            segment(Some(format!("{key} IS NULL AND id > ?")), "id ASC", vec![id]),
            segment(Some(format!("{key} IS NOT NULL")), &by_key_asc, vec![]),
        ],
        (Direction::Descending, Value::Null) => {
            vec![segment(Some(format!("{key} IS NULL AND id < ?")), "id DESC", vec![id])]
        }
        // The first comparison alone is the range SQLite seeks to; the second
        // drops the ties at or before the cursor's id.
        (Direction::Ascending, value) => {
            let v = sql_value(&value);
            vec![segment(Some(format!("{key} >= ? AND ({key} > ? OR id > ?)")), &by_key_asc, vec![v.clone(), v, id])]
        }
        (Direction::Descending, value) => {
            let v = sql_value(&value);
            vec![
                segment(Some(format!("{key} <= ? AND ({key} < ? OR id < ?)")), &by_key_desc, vec![v.clone(), v, id]),
                segment(Some(format!("{key} IS NULL")), "id DESC", vec![]),
            ]
        }
    }
}

/// Runs one checked write inside the batch's transaction; whether it changed
/// anything. Read, change and write happen on the one writer with nothing in
/// between, which is what MongoDB's update operators give the other backend.
fn apply(tx: &Transaction<'_>, write: &Write, columns: &[String]) -> Result<bool, ReadStoreError> {
    let (name, id) = (&write.collection, &write.id);
    // Marks and updates need the stored document, and its words and fields
    // say whether the words and which field columns the write must change.
    let (rowid, stored) = match read_row(tx, name, id)? {
        Some((rowid, doc)) => (Some(rowid), Some(doc)),
        None => (None, None),
    };
    if let Some(mark) = &write.mark
        && !mark.admits(stored.as_ref())
    {
        return Ok(false);
    }
    let mut doc = match &write.change {
        Change::Delete => {
            let (Some(rowid), Some(stored)) = (rowid, stored) else { return Ok(false) };
            tx.prepare_cached(&format!(r#"DELETE FROM "rs_{name}" WHERE id = ?1"#))
                .and_then(|mut s| s.execute([id]))
                .map_err(unavailable)?;
            sync_words(tx, name, rowid, Some(&stored), None)?;
            return Ok(true);
        }
        Change::Put(doc) => doc.clone(),
        Change::Update(updates, missing) => {
            let mut doc = match (&stored, missing) {
                (Some(doc), _) => doc.clone(),
                (None, IfMissing::Create) => Document::new(),
                (None, IfMissing::Skip) => return Ok(false),
            };
            apply_updates(&mut doc, updates)?;
            check_document(&doc)?;
            doc
        }
    };
    if let Some(mark) = &write.mark {
        doc.insert(mark.field.clone(), Value::from(mark.sequence));
    }
    save(tx, name, id, &doc, stored.as_ref(), columns)?;
    let rowid = rowid.unwrap_or_else(|| tx.last_insert_rowid());
    sync_words(tx, name, rowid, stored.as_ref(), Some(&doc))?;
    Ok(true)
}

/// Creates a collection's tables, field columns and indexes unless they
/// exist, bringing a table from before field columns up to date; the table's
/// field columns.
fn create(tx: &Transaction<'_>, collection: &Collection) -> Result<Vec<String>, ReadStoreError> {
    let name = &collection.name;
    tx.execute_batch(&format!(
        r#"CREATE TABLE IF NOT EXISTS "rs_{name}" (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);"#
    ))
    .map_err(unavailable)?;
    create_words(tx, name)?;
    drop_expression_indexes(tx, name)?;
    let mut columns = field_columns(tx, name)?;
    for field in collection.fields() {
        if !columns.contains(&field) {
            // Filled as the expression indexes read the field, so a table
            // from before columns answers the same queries.
            tx.execute_batch(&format!(
                r#"ALTER TABLE "rs_{name}" ADD COLUMN {column};
                   UPDATE "rs_{name}" SET {column} = json_extract(doc, '$.{field}');"#,
                column = column(&field)
            ))
            .map_err(unavailable)?;
            columns.push(field);
        }
    }
    for index in &collection.indexes {
        let columns: Vec<String> = index.iter().map(|f| column(f)).collect();
        tx.execute_batch(&format!(
            r#"CREATE INDEX IF NOT EXISTS "rs_{name}__by__{}" ON "rs_{name}" ({}, id);"#,
            index.join("__"),
            columns.join(", ")
        ))
        .map_err(unavailable)?;
    }
    Ok(columns)
}

/// Creates the words table unless it exists, filled from the documents when
/// the collection kept its words in a table of `(token, id)` rows before,
/// which it then drops.
fn create_words(tx: &Transaction<'_>, name: &str) -> Result<(), ReadStoreError> {
    let exists = |table: String| -> Result<bool, ReadStoreError> {
        tx.query_row("SELECT count(*) FROM sqlite_master WHERE name = ?1", [table], |row| row.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(unavailable)
    };
    if exists(format!("rs_{name}__words"))? {
        return Ok(());
    }
    // detail=none: a search asks which rows hold a word, never where in them.
    tx.execute_batch(&format!(
        r#"CREATE VIRTUAL TABLE "rs_{name}__words" USING fts5(
               words, content='', contentless_delete=1, detail=none, tokenize='ascii');"#
    ))
    .map_err(unavailable)?;
    if exists(format!("rs_{name}__tokens"))? {
        // The same spelling as `fts_word`: hex() gives the UTF-8 bytes.
        tx.execute_batch(&format!(
            r#"INSERT INTO "rs_{name}__words" (rowid, words)
                   SELECT r.rowid, group_concat('x' || hex(w.value), ' ')
                   FROM "rs_{name}" r, json_each(r.doc, '$.{TOKENS_FIELD}') w
                   WHERE w.type = 'text' GROUP BY r.rowid;
               DROP TABLE "rs_{name}__tokens";"#
        ))
        .map_err(unavailable)?;
    }
    Ok(())
}

/// The column holding `field` (a checked name, so safe to quote).
fn column(field: &str) -> String {
    format!(r#""f_{field}""#)
}

/// The fields `rs_<name>` has a column for.
fn field_columns(tx: &Transaction<'_>, name: &str) -> Result<Vec<String>, ReadStoreError> {
    let mut statement = tx.prepare("SELECT name FROM pragma_table_info(?1)").map_err(unavailable)?;
    let names = statement.query_map([format!("rs_{name}")], |row| row.get::<_, String>(0)).map_err(unavailable)?;
    let mut fields = Vec::new();
    for column in names {
        if let Some(field) = column.map_err(unavailable)?.strip_prefix("f_") {
            fields.push(field.to_owned());
        }
    }
    Ok(fields)
}

/// Drops the indexes on `json_extract(doc, ...)` that tables had before field
/// columns: queries no longer use them, and every write would still pay for
/// them.
fn drop_expression_indexes(tx: &Transaction<'_>, name: &str) -> Result<(), ReadStoreError> {
    let old: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql LIKE '%json_extract(%'")
        .and_then(|mut s| s.query_map([format!("rs_{name}")], |row| row.get(0))?.collect())
        .map_err(unavailable)?;
    for index in old {
        tx.execute_batch(&format!(r#"DROP INDEX "{}";"#, index.replace('"', "\"\""))).map_err(unavailable)?;
    }
    Ok(())
}

/// The stored document and its rowid, which ties it to its words.
fn read_row(conn: &Connection, name: &str, id: &str) -> Result<Option<(i64, Document)>, ReadStoreError> {
    let mut statement =
        conn.prepare_cached(&format!(r#"SELECT rowid, doc FROM "rs_{name}" WHERE id = ?1"#)).map_err(unavailable)?;
    let row: Option<(i64, String)> =
        statement.query_row([id], |row| Ok((row.get(0)?, row.get(1)?))).optional().map_err(unavailable)?;
    row.map(|(rowid, text)| Ok((rowid, parse(&text)?))).transpose()
}

fn read(conn: &Connection, name: &str, id: &str) -> Result<Option<Document>, ReadStoreError> {
    let mut statement =
        conn.prepare_cached(&format!(r#"SELECT doc FROM "rs_{name}" WHERE id = ?1"#)).map_err(unavailable)?;
    let text: Option<String> = statement.query_row([id], |row| row.get(0)).optional().map_err(unavailable)?;
    text.as_deref().map(parse).transpose()
}

/// Writes `doc` and its field columns. A stored row gets only the columns
/// whose value changed, so the indexes that read none of them stay as they
/// are.
fn save(
    tx: &Transaction<'_>,
    name: &str,
    id: &str,
    doc: &Document,
    stored: Option<&Document>,
    columns: &[String],
) -> Result<(), ReadStoreError> {
    let text = serde_json::to_string(doc).map_err(|e| ReadStoreError::Codec(e.to_string()))?;
    let mut values = vec![SqlValue::Text(id.to_owned()), SqlValue::Text(text)];
    let sql = match stored {
        None => {
            let names: Vec<String> = columns.iter().map(|f| column(f)).collect();
            values.extend(columns.iter().map(|f| column_value(doc.get(f))));
            let slots: Vec<String> = (1..=values.len()).map(|n| format!("?{n}")).collect();
            let names = ["id".to_owned(), "doc".to_owned()].into_iter().chain(names).collect::<Vec<_>>();
            format!(r#"INSERT INTO "rs_{name}" ({}) VALUES ({})"#, names.join(", "), slots.join(", "))
        }
        Some(stored) => {
            let mut sets = vec!["doc = ?2".to_owned()];
            for field in columns.iter().filter(|f| stored.get(*f) != doc.get(*f)) {
                values.push(column_value(doc.get(field)));
                sets.push(format!("{} = ?{}", column(field), values.len()));
            }
            format!(r#"UPDATE "rs_{name}" SET {} WHERE id = ?1"#, sets.join(", "))
        }
    };
    let mut statement = tx.prepare_cached(&sql).map_err(unavailable)?;
    statement.execute(params_from_iter(values)).map_err(unavailable)?;
    Ok(())
}

/// Makes the words table hold exactly the words of `new` (none when the
/// document is gone) for the row, given the words of `stored`.
fn sync_words(
    tx: &Transaction<'_>,
    name: &str,
    rowid: i64,
    stored: Option<&Document>,
    new: Option<&Document>,
) -> Result<(), ReadStoreError> {
    let (old, new) = (words(stored), words(new));
    if old == new {
        return Ok(());
    }
    if !old.is_empty() {
        tx.prepare_cached(&format!(r#"DELETE FROM "rs_{name}__words" WHERE rowid = ?1"#))
            .and_then(|mut s| s.execute([rowid]))
            .map_err(unavailable)?;
    }
    if !new.is_empty() {
        let words: Vec<String> = new.iter().map(|word| fts_word(word)).collect();
        tx.prepare_cached(&format!(r#"INSERT INTO "rs_{name}__words" (rowid, words) VALUES (?1, ?2)"#))
            .and_then(|mut s| s.execute(params![rowid, words.join(" ")]))
            .map_err(unavailable)?;
    }
    Ok(())
}

/// How a word is spelled to FTS5: `x` and the hex of its UTF-8 bytes, so every
/// word, the empty one and ones with spaces or punctuation included, is one
/// token that equals only itself.
fn fts_word(word: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut spelled = String::with_capacity(1 + 2 * word.len());
    spelled.push('x');
    for byte in word.bytes() {
        spelled.push(char::from(HEX[usize::from(byte >> 4)]));
        spelled.push(char::from(HEX[usize::from(byte & 0xF)]));
    }
    spelled
}

/// An FTS5 query for rows holding every one of `words`.
fn fts_query(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("\"{}\"", fts_word(word))).collect();
    quoted.join(" AND ")
}

/// A document's search words.
fn words(doc: Option<&Document>) -> Vec<&str> {
    match doc.and_then(|doc| doc.get(TOKENS_FIELD)) {
        Some(Value::Array(words)) => words.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The conditions and parameters of a filter (equalities, then words).
fn where_filter(name: &str, filter: &Filter) -> (Vec<String>, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (field, value) in &filter.equals {
        conditions.push(format!("{} = ?", column(field)));
        values.push(sql_value(value));
    }
    if let Some(words) = filter.words.as_ref().filter(|w| !w.is_empty()) {
        conditions.push(format!(r#"rowid IN (SELECT rowid FROM "rs_{name}__words" WHERE "rs_{name}__words" MATCH ?)"#));
        values.push(SqlValue::Text(fts_query(words)));
    }
    (conditions, values)
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) }
}

/// A field's column value: what `json_extract` returns for it, so a table
/// filled by either compares alike (arrays and objects as JSON text).
fn column_value(value: Option<&Value>) -> SqlValue {
    match value {
        None | Some(Value::Null) => SqlValue::Null,
        Some(value @ (Value::Array(_) | Value::Object(_))) => SqlValue::Text(value.to_string()),
        Some(scalar) => sql_value(scalar),
    }
}

/// A JSON scalar as `json_extract` returns it: booleans are 0 and 1.
fn sql_value(value: &Value) -> SqlValue {
    match value {
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        // Filters refuse the rest; a cursor's NULL is handled by the caller.
        _ => SqlValue::Null,
    }
}

fn parse(text: &str) -> Result<Document, ReadStoreError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(doc)) => Ok(doc),
        Ok(_) => Err(ReadStoreError::Codec("a stored document is not an object".into())),
        Err(e) => Err(ReadStoreError::Codec(e.to_string())),
    }
}

fn unavailable(error: rusqlite::Error) -> ReadStoreError {
    ReadStoreError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The query planner's account of each statement of one page of `query`
    /// on a table of `collection`, after a cursor at `value`.
    fn plans(collection: &Collection, query: &Query, value: Value) -> Vec<String> {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        create(&tx, collection).unwrap();
        tx.commit().unwrap();
        let after = Position { value, id: "x".into() };
        let mut plans = Vec::new();
        for (sql, mut values) in page_sql(&collection.name, query, Some(after)) {
            values.push(SqlValue::Integer(21));
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = statement.query_map(params_from_iter(values), |row| row.get::<_, String>(3)).unwrap();
            plans.push(rows.map(Result::unwrap).collect::<Vec<_>>().join("; "));
        }
        plans
    }

    #[test]
    fn a_page_after_a_cursor_seeks_in_the_index_and_never_sorts() {
        let posts = Collection::new("posts").index(&["author", "at"]);
        for direction in [Direction::Ascending, Direction::Descending] {
            let query = Query::new(Filter::all().eq("author", "ana"), "at", direction).limit(20);
            let plans = plans(&posts, &query, json!(5));
            // The first range starts at the cursor: a seek on `at`, not only `author`.
            let seek = match direction {
                Direction::Ascending => "(f_author=? AND f_at>?)",
                Direction::Descending => "(f_author=? AND f_at<?)",
            };
            assert!(plans[0].contains(&format!("USING INDEX rs_posts__by__author__at {seek}")), "{plans:?}");
            for plan in plans.iter().chain(&self::plans(&posts, &query, Value::Null)) {
                assert!(plan.contains("USING INDEX rs_posts__by__author__at"), "{plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
        }
    }

    #[test]
    fn a_search_looks_words_up_in_the_full_text_index() {
        let people = Collection::new("people").index(&["name"]);
        let query = Query::new(Filter::all().search("ana sousa"), "name", Direction::Ascending);
        let plans = plans(&people, &query, json!("ana"));
        // The rows a word names, each by its rowid: no walk over the table.
        assert!(plans[0].contains("SCAN rs_people__words VIRTUAL TABLE INDEX"), "{plans:?}");
        assert!(plans[0].contains("SEARCH rs_people USING INTEGER PRIMARY KEY (rowid=?)"), "{plans:?}");
        assert!(!plans[0].contains("SCAN rs_people "), "{plans:?}");
    }

    #[test]
    fn every_word_is_one_full_text_token_that_matches_only_itself() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        create_words(&tx, "t").unwrap();
        let stored = ["", "a b", "a", "#rust", "naïve", "x41", "\"q\"", "AND", "*"];
        let words: Vec<String> = stored.iter().map(|w| fts_word(w)).collect();
        tx.execute(r#"INSERT INTO "rs_t__words" (rowid, words) VALUES (1, ?1)"#, [words.join(" ")]).unwrap();
        let found = |words: &[&str]| -> i64 {
            let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
            tx.query_row(
                r#"SELECT count(*) FROM "rs_t__words" WHERE "rs_t__words" MATCH ?1"#,
                [fts_query(&words)],
                |r| r.get(0),
            )
            .unwrap()
        };
        for word in stored {
            assert_eq!(found(&[word]), 1, "{word:?}");
        }
        assert_eq!(found(&stored), 1);
        for other in ["b", "A", "rust", "naive", "A B", "x", "\"", "and"] {
            assert_eq!(found(&[other]), 0, "{other:?}");
            assert_eq!(found(&["a", other]), 0, "a and {other:?}");
        }
    }

    #[test]
    fn a_table_from_before_field_columns_and_full_text_gets_both_filled_and_its_old_indexes_dropped() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            r##"CREATE TABLE "rs_posts" (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL);
               CREATE TABLE "rs_posts__tokens" (token TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (token, id)) WITHOUT ROWID;
               CREATE INDEX "rs_posts__tokens__id" ON "rs_posts__tokens" (id);
               CREATE INDEX "rs_posts__by__author__at" ON "rs_posts" (json_extract(doc, '$.author'), json_extract(doc, '$.at'), id);
               INSERT INTO "rs_posts" VALUES ('p1', '{"author":"ana","at":5,"live":true,"tokens":["olá","#rust"]}');
               INSERT INTO "rs_posts" VALUES ('p2', '{"author":"bo","at":6,"live":true}');
               INSERT INTO "rs_posts__tokens" VALUES ('olá', 'p1'), ('#rust', 'p1');"##,
        )
        .unwrap();
        let posts = Collection::new("posts").index(&["author", "at"]).index(&["live"]);
        let tx = conn.transaction().unwrap();
        assert_eq!(create(&tx, &posts).unwrap(), ["author", "at", "live"]);
        tx.commit().unwrap();
        let found: Vec<String> = conn
            .prepare(r#"SELECT id FROM "rs_posts" WHERE rowid IN (SELECT rowid FROM "rs_posts__words" WHERE "rs_posts__words" MATCH ?1)"#)
            .unwrap()
            .query_map([fts_query(&["olá".into(), "#rust".into()])], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(found, ["p1"]);
        let old_tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'rs_posts__tokens'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(old_tables, 0);
        let row: (String, i64, i64) = conn
            .query_row(r#"SELECT f_author, f_at, f_live FROM "rs_posts" WHERE id = 'p1'"#, [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(row, ("ana".to_owned(), 5, 1));
        let indexes: Vec<String> = conn
            .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            indexes.iter().all(|sql| !sql.contains("json_extract") && !sql.contains("__tokens__id")),
            "{indexes:?}"
        );
        assert!(indexes.iter().any(|sql| sql.contains(r#"("f_author", "f_at", id)"#)), "{indexes:?}");
    }

    #[test]
    fn an_update_keeps_the_field_columns_equal_to_the_document() {
        let mut conn = Connection::open_in_memory().unwrap();
        let posts = Collection::new("posts").index(&["author", "state"]);
        let tx = conn.transaction().unwrap();
        let columns = create(&tx, &posts).unwrap();
        let doc = |v: Value| v.as_object().unwrap().clone();
        let before = doc(json!({"author": "ana", "state": "live", "likes": 1}));
        save(&tx, "posts", "p1", &before, None, &columns).unwrap();
        let liked = doc(json!({"author": "ana", "state": "live", "likes": 2}));
        save(&tx, "posts", "p1", &liked, Some(&before), &columns).unwrap();
        let hidden = doc(json!({"author": "ana", "state": "hidden", "likes": 2}));
        save(&tx, "posts", "p1", &hidden, Some(&liked), &columns).unwrap();
        let row: (String, String, String) = tx
            .query_row(r#"SELECT doc, f_author, f_state FROM "rs_posts""#, [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(parse(&row.0).unwrap(), hidden);
        assert_eq!((row.1.as_str(), row.2.as_str()), ("ana", "hidden"));
    }
}

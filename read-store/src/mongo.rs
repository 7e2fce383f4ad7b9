//! The MongoDB backend: one database of the server, one MongoDB collection
//! per declared collection, under the same name. A document is stored as
//! itself plus `_id` = its id; JSON integers become 64-bit integers and
//! fractions doubles, so both read back as they were written. Each declared
//! index becomes a compound index `by__<field>__...` over its fields then
//! `_id`, so a filtered, sorted page is read in index order; every collection
//! also gets the multikey index `search` on `tokens`, because any collection
//! may be searched (SQLite likewise keeps a token table for each).
//!
//! Search is `tokens: {$all: words}`, never `$text`: the server the tests run
//! against has no text indexes, and this must run on every MongoDB. Each
//! write is one operation on one document, which the server applies
//! atomically: a replace, a delete, or an `updateOne` with update operators;
//! a [`crate::Mark`] is a condition of its filter. A batch runs its writes one
//! after the other, not in a transaction (which needs a replica set): marks
//! make a batch that failed half-way safe to run again.
//! Server errors become [`ReadStoreError`]s in one place, `failure` (and
//! `update_failure` for the type errors only an update meets).
//!
//! Only checked names (see [`crate::model`]) become field names here; every
//! value, id and cursor part is data inside a BSON document.

use crate::cursor::{self, Position};
use crate::model::{
    Change, Collection, Direction, Document, Filter, Found, IfMissing, Order, Page, Query, TOKENS_FIELD, Update, Write,
    check_document, check_id, check_ids,
};
use crate::{ReadStore, ReadStoreError};
use mongodb::bson::{Bson, Document as BsonDocument, doc};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Database, IndexModel};
use serde_json::{Number, Value};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long finding a server, or opening a connection to it, may take before
/// a call fails as unavailable, unless the URL says otherwise: a store that is
/// down should fail a request, not hold it for the driver's 30 s default.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The server's code for an insert of an id that exists.
const DUPLICATE_KEY: i32 = 11000;

/// The name of the index on `tokens`.
const SEARCH_INDEX: &str = "search";

/// JSON value kinds in MongoDB's sort order (null, numbers, strings, objects,
/// booleans), as `$type` aliases; arrays sort by an element and are left out.
const SORTED_TYPES: [&str; 4] = ["number", "string", "object", "bool"];

/// A read-model store in one MongoDB database. Cheap to clone: clones share
/// the driver's connection pool and the declared collections.
#[derive(Debug, Clone)]
pub struct MongoStore {
    db: Database,
    /// Declared by `ensure`: the only collections and fields queries may name.
    declared: Arc<RwLock<HashMap<String, Collection>>>,
}

impl MongoStore {
    /// Connects to the server at `url` (a `mongodb://` URL) and uses its
    /// database `database`, which is created on the first write. Fails with
    /// [`ReadStoreError::Unavailable`] within a few seconds when no server
    /// answers.
    pub async fn connect(url: &str, database: &str) -> Result<Self, ReadStoreError> {
        check_database(database)?;
        let mut options = ClientOptions::parse(url).await.map_err(failure)?;
        options.server_selection_timeout.get_or_insert(TIMEOUT);
        options.connect_timeout.get_or_insert(TIMEOUT);
        options.app_name.get_or_insert_with(|| "pulse-read-store".to_owned());
        let client = Client::with_options(options).map_err(failure)?;
        let db = client.database(database);
        // The driver connects lazily; asking now turns a wrong URL into an
        // error at start-up instead of at the first request.
        db.run_command(doc! { "ping": 1 }).await.map_err(failure)?;
        Ok(Self { db, declared: Arc::default() })
    }

    fn declared(&self, name: &str) -> Result<Collection, ReadStoreError> {
        let declared = self.declared.read().unwrap_or_else(PoisonError::into_inner);
        declared.get(name).cloned().ok_or_else(|| ReadStoreError::UnknownCollection(name.to_owned()))
    }

    fn table(&self, name: &str) -> Result<mongodb::Collection<BsonDocument>, ReadStoreError> {
        self.declared(name)?;
        Ok(self.db.collection(name))
    }
}

impl ReadStore for MongoStore {
    async fn ensure(&self, collections: &[Collection]) -> Result<(), ReadStoreError> {
        collections.iter().try_for_each(Collection::check)?;
        for collection in collections {
            let search = IndexModel::builder()
                .keys(doc! { TOKENS_FIELD: 1 })
                .options(IndexOptions::builder().name(SEARCH_INDEX.to_owned()).build())
                .build();
            let mut indexes = vec![search];
            for fields in &collection.indexes {
                let mut keys: BsonDocument = fields.iter().map(|f| (f.clone(), Bson::Int32(1))).collect();
                keys.insert("_id", 1);
                let name = format!("by__{}", fields.join("__"));
                indexes
                    .push(IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name).build()).build());
            }
            // Creating an index that exists with the same name and keys is a
            // no-op, and creates the collection when it is missing.
            self.db.collection::<BsonDocument>(&collection.name).create_indexes(indexes).await.map_err(failure)?;
        }
        let mut declared = self.declared.write().unwrap_or_else(PoisonError::into_inner);
        for collection in collections {
            let known = declared.entry(collection.name.clone()).or_insert_with(|| Collection::new(&collection.name));
            for index in &collection.indexes {
                if !known.indexes.contains(index) {
                    known.indexes.push(index.clone());
                }
            }
        }
        Ok(())
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Option<Document>, ReadStoreError> {
        check_id(id)?;
        let found = self.table(collection)?.find_one(doc! { "_id": id }).await.map_err(failure)?;
        found.map(|stored| from_stored(stored).map(|found| found.doc)).transpose()
    }

    async fn get_many(&self, collection: &str, ids: &[String]) -> Result<Vec<Option<Document>>, ReadStoreError> {
        check_ids(ids)?;
        let table = self.table(collection)?;
        let mut cursor = table.find(doc! { "_id": { "$in": ids } }).await.map_err(failure)?;
        let mut found = HashMap::with_capacity(ids.len());
        while cursor.advance().await.map_err(failure)? {
            let stored = cursor.deserialize_current().map_err(|e| ReadStoreError::Codec(e.to_string()))?;
            let one = from_stored(stored)?;
            found.insert(one.id, one.doc);
        }
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    async fn write(&self, writes: &[Write]) -> Result<u64, ReadStoreError> {
        writes.iter().try_for_each(Write::check)?;
        // Everything that can refuse a write does so before the first one
        // runs: the batch is no transaction here, but a bad batch changes nothing.
        let mut operations = Vec::with_capacity(writes.len());
        for write in writes {
            self.declared(&write.collection)?;
            operations.push(operation(write)?);
        }
        let mut changed = 0;
        for (write, operation) in writes.iter().zip(operations) {
            changed += u64::from(self.run(write, operation).await?);
        }
        Ok(changed)
    }

    async fn drop_collection(&self, collection: &str) -> Result<(), ReadStoreError> {
        Collection::new(collection).check()?;
        // The driver takes "namespace not found" for success already.
        self.db.collection::<BsonDocument>(collection).drop().await.map_err(failure)?;
        self.declared.write().unwrap_or_else(PoisonError::into_inner).remove(collection);
        Ok(())
    }

    async fn find(&self, collection: &str, query: &Query) -> Result<Page, ReadStoreError> {
        let after = query.after.as_deref().map(|raw| cursor::decode(query, raw)).transpose()?;
        self.declared(collection)?.check_query(&query.filter, Some(&query.order))?;
        if query.filter.matches_nothing() {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let filter = conditions(&query.filter)?;
        let segments = match after {
            None => vec![all_of(filter)],
            Some(at) => after_position(&query.order, at)?
                .into_iter()
                .map(|segment| all_of(filter.iter().cloned().chain([segment]).collect()))
                .collect(),
        };
        let direction = match query.order.direction {
            Direction::Ascending => 1,
            Direction::Descending => -1,
        };
        let table = self.db.collection::<BsonDocument>(collection);
        let size = query.page_size() as usize;
        let mut items = Vec::new();
        let mut more = false;
        for segment in segments {
            // One more than the page, to know whether another page follows
            // without handing out a cursor to an empty one.
            let wanted = size + 1 - items.len();
            let mut rows = table
                .find(segment)
                .sort(doc! { query.order.field.clone(): direction, "_id": direction })
                .limit(i64::try_from(wanted).unwrap_or(i64::MAX))
                .await
                .map_err(failure)?;
            while rows.advance().await.map_err(failure)? {
                if items.len() == size {
                    more = true;
                    break;
                }
                items.push(from_stored(rows.deserialize_current().map_err(failure)?)?);
            }
            if more {
                break;
            }
        }
        let last_key = |found: &Found| found.doc.get(&query.order.field).cloned().unwrap_or(Value::Null);
        let next = match items.last() {
            Some(last) if more => Some(cursor::encode(query, &last_key(last), &last.id)),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn count(&self, collection: &str, filter: &Filter) -> Result<u64, ReadStoreError> {
        self.declared(collection)?.check_query(filter, None)?;
        if filter.matches_nothing() {
            return Ok(0);
        }
        let selector = all_of(conditions(filter)?);
        self.db.collection::<BsonDocument>(collection).count_documents(selector).await.map_err(failure)
    }
}

impl MongoStore {
    /// Runs one write's operation; whether it changed anything.
    async fn run(&self, write: &Write, operation: Operation) -> Result<bool, ReadStoreError> {
        let table = self.db.collection::<BsonDocument>(&write.collection);
        let outcome = match operation {
            Operation::Replace { filter, doc } => table
                .replace_one(filter, doc)
                .upsert(true)
                .await
                .map(|r| r.matched_count > 0 || r.upserted_id.is_some()),
            Operation::Delete { filter } => table.delete_one(filter).await.map(|r| r.deleted_count > 0),
            Operation::Update { filter, operators, upsert } => table
                .update_one(filter, operators)
                .upsert(upsert)
                .await
                .map(|r| r.matched_count > 0 || r.upserted_id.is_some()),
        };
        match outcome {
            Ok(changed) => Ok(changed),
            // A marked upsert whose filter missed because the document is
            // there with a mark at or past this one tries to insert that id
            // anew: the write was applied before, so it is skipped.
            Err(e) if write.mark.is_some() && server_error(&e).is_some_and(|(code, _)| code == DUPLICATE_KEY) => {
                Ok(false)
            }
            Err(e) => Err(match &write.change {
                Change::Update(updates, _) => update_failure(e, updates),
                _ => failure(e),
            }),
        }
    }
}

/// A write as the one server operation that makes it.
enum Operation {
    Replace { filter: BsonDocument, doc: BsonDocument },
    Delete { filter: BsonDocument },
    Update { filter: BsonDocument, operators: BsonDocument, upsert: bool },
}

/// The operation of a checked write. A mark becomes part of the filter (the
/// mark field missing or below the sequence) and is set by the write itself,
/// so the check and the change are one atomic operation on the server.
fn operation(write: &Write) -> Result<Operation, ReadStoreError> {
    let id = write.id.as_str();
    let mut filter = doc! { "_id": id };
    // `Write::check` refuses a sequence past the 64-bit integers BSON has.
    let mark = write
        .mark
        .as_ref()
        .map(|mark| (mark.field.clone(), Bson::Int64(i64::try_from(mark.sequence).unwrap_or(i64::MAX))));
    if let Some((field, sequence)) = &mark {
        filter.insert(
            "$or",
            vec![doc! { field.clone(): { "$exists": false } }, doc! { field.clone(): { "$lt": sequence.clone() } }],
        );
    }
    Ok(match &write.change {
        Change::Put(fields) => {
            let mut doc = doc! { "_id": id };
            for (field, value) in fields {
                doc.insert(field.clone(), to_bson(value)?);
            }
            doc.extend(mark);
            Operation::Replace { filter, doc }
        }
        Change::Delete => Operation::Delete { filter },
        Change::Update(updates, missing) => {
            check_token_updates(updates)?;
            let mut operators = BsonDocument::new();
            let mut add = |operator: &str, field: &str, value: Bson| match operators.get_mut(operator) {
                Some(Bson::Document(fields)) => {
                    fields.insert(field, value);
                }
                _ => {
                    operators.insert(operator, doc! { field: value });
                }
            };
            for update in updates {
                match update {
                    Update::Set(field, value) => add("$set", field, to_bson(value)?),
                    Update::Increment(field, by) => add("$inc", field, Bson::Int64(*by)),
                    Update::AddToSet(field, value) => add("$addToSet", field, to_bson(value)?),
                    Update::RemoveFromSet(field, value) => add("$pull", field, to_bson(value)?),
                }
            }
            if let Some((field, sequence)) = mark {
                add("$set", &field, sequence);
            }
            if operators.is_empty() {
                // No change still creates an empty document when asked to, as
                // applying nothing to an empty document does; the server
                // refuses an update without operators.
                operators.insert("$setOnInsert", doc! { "_id": id });
            }
            Operation::Update { filter, operators, upsert: *missing == IfMissing::Create }
        }
    })
}

/// A database name MongoDB takes on every platform, kept to the characters of
/// the rest of the store's names.
fn check_database(name: &str) -> Result<(), ReadStoreError> {
    let ok =
        !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(ReadStoreError::Invalid(format!("database name {name:?}"))) }
}

/// The server could store anything in `tokens`; SQLite checks the document
/// after applying the updates, this backend has to refuse before sending them.
fn check_token_updates(updates: &[Update]) -> Result<(), ReadStoreError> {
    let refused = || ReadStoreError::Invalid(format!("{TOKENS_FIELD} must be an array of strings"));
    for update in updates.iter().filter(|u| u.field() == TOKENS_FIELD) {
        match update {
            Update::Set(field, value) => check_document(&Document::from_iter([(field.clone(), value.clone())]))?,
            Update::AddToSet(_, value) if !value.is_string() => return Err(refused()),
            Update::Increment(..) => return Err(refused()),
            _ => {}
        }
    }
    Ok(())
}

/// A filter's equalities and words, each one condition.
fn conditions(filter: &Filter) -> Result<Vec<BsonDocument>, ReadStoreError> {
    let mut conditions = Vec::new();
    for (field, value) in &filter.equals {
        conditions.push(doc! { field.clone(): to_bson(value)? });
    }
    if let Some(words) = filter.words.as_ref().filter(|w| !w.is_empty()) {
        conditions.push(doc! { TOKENS_FIELD: { "$all": words.clone() } });
    }
    Ok(conditions)
}

/// One selector for all the conditions; `$and` keeps two on the same field
/// apart where merging them into one document would keep only the last.
fn all_of(mut conditions: Vec<BsonDocument>) -> BsonDocument {
    match conditions.len() {
        0 => BsonDocument::new(),
        1 => conditions.remove(0),
        _ => doc! { "$and": conditions },
    }
}

/// The conditions that, in turn, select what follows the position `at` in
/// `order`, each read from the index in its order, from a bound on the sort
/// field: paging deep costs a seek, not a walk over the earlier pages. The
/// next is read only when the ones before did not fill the page.
///
/// MongoDB compares only within a type (`$gt: 5` never matches a string), so
/// the values of the other types that sort after the position are a range of
/// their own; a page ending on a number still reaches the strings. A missing
/// field sorts as null: first ascending, last descending.
fn after_position(order: &Order, at: Position) -> Result<Vec<BsonDocument>, ReadStoreError> {
    let field = order.field.as_str();
    let id = at.id;
    let rank = match &at.value {
        Value::Null => None,
        Value::Number(_) => Some(0),
        Value::String(_) => Some(1),
        Value::Bool(_) => Some(3),
        // Cursors only hold scalars (see `cursor::decode`).
        Value::Array(_) | Value::Object(_) => return Err(ReadStoreError::InvalidCursor),
    };
    let Some(rank) = rank else {
        return Ok(match order.direction {
            Direction::Ascending => {
                vec![doc! { field: Bson::Null, "_id": { "$gt": id } }, doc! { field: { "$ne": Bson::Null } }]
            }
            Direction::Descending => vec![doc! { field: Bson::Null, "_id": { "$lt": id } }],
        });
    };
    let value = to_bson(&at.value).map_err(|_| ReadStoreError::InvalidCursor)?;
    // The first comparison alone is the range the index seeks to; `$nor`
    // drops the ties at or before the cursor's id.
    let (from, passed) = match order.direction {
        Direction::Ascending => ("$gte", "$lte"),
        Direction::Descending => ("$lte", "$gte"),
    };
    let same_type = doc! {
        field: { from: value.clone() },
        "$nor": [{ field: value, "_id": { passed: id } }],
    };
    let other_types = match order.direction {
        Direction::Ascending => &SORTED_TYPES[rank + 1..],
        Direction::Descending => &SORTED_TYPES[..rank],
    };
    let other_types = (!other_types.is_empty()).then(|| doc! { field: { "$type": other_types.to_vec() } });
    let rest = match (order.direction, other_types) {
        (Direction::Ascending, other_types) => other_types,
        (Direction::Descending, None) => Some(doc! { field: Bson::Null }),
        (Direction::Descending, Some(other_types)) => Some(doc! { "$or": [other_types, { field: Bson::Null }] }),
    };
    Ok([Some(same_type), rest].into_iter().flatten().collect())
}

/// A JSON value as BSON: integers as 64-bit integers, other numbers as doubles.
fn to_bson(value: &Value) -> Result<Bson, ReadStoreError> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None if n.is_f64() => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
            // BSON has no unsigned 64-bit integer, and a double would not
            // read back equal.
            None => return Err(ReadStoreError::Invalid(format!("the integer {n} does not fit in 64 bits"))),
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect::<Result<_, _>>()?),
        Value::Object(fields) => Bson::Document(
            fields.iter().map(|(k, v)| Ok((k.clone(), to_bson(v)?))).collect::<Result<_, ReadStoreError>>()?,
        ),
    })
}

/// A BSON value as JSON; kinds that no JSON value maps to are unreadable.
fn to_json(value: Bson) -> Result<Value, ReadStoreError> {
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ReadStoreError::Codec(format!("a stored number {f} has no JSON form")))?,
        Bson::String(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Bson::Document(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| Ok((k, to_json(v)?))).collect::<Result<_, ReadStoreError>>()?)
        }
        other => return Err(ReadStoreError::Codec(format!("a stored {:?} has no JSON form", other.element_type()))),
    })
}

/// A stored document as its id and the document without `_id`.
fn from_stored(mut stored: BsonDocument) -> Result<Found, ReadStoreError> {
    let id = match stored.remove("_id") {
        Some(Bson::String(id)) => id,
        _ => return Err(ReadStoreError::Codec("a stored document has no string _id".into())),
    };
    let mut doc = Document::new();
    for (field, value) in stored {
        doc.insert(field, to_json(value)?);
    }
    Ok(Found { id, doc })
}

/// The server's error code and message, when the server refused the operation.
fn server_error(error: &MongoError) -> Option<(i32, &str)> {
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some((e.code, &e.message)),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some((e.code, &e.message)),
        _ => None,
    }
}

/// Every driver error as the store's: an argument the driver refuses, or a
/// document the server will not store (too large, or a nested field name it
/// refuses), is the caller's; a document the driver cannot (de)serialize is
/// unreadable; anything else (no server, a lost connection, a command the
/// server refused) is unavailability, worth trying again later.
fn failure(error: MongoError) -> ReadStoreError {
    // DollarPrefixedFieldName, EmptyFieldName, DottedFieldName,
    // BSONObjectTooLarge, and a document too large to insert or to update.
    const REFUSED_DOCUMENT: [i32; 6] = [52, 56, 57, 10334, 17419, 17420];
    match error.kind.as_ref() {
        ErrorKind::InvalidArgument { message, .. } => ReadStoreError::Invalid(message.clone()),
        ErrorKind::BsonSerialization(e) => ReadStoreError::Codec(e.to_string()),
        ErrorKind::BsonDeserialization(e) => ReadStoreError::Codec(e.to_string()),
        _ => match server_error(&error) {
            Some((code, message)) if REFUSED_DOCUMENT.contains(&code) => ReadStoreError::Invalid(message.to_owned()),
            _ => ReadStoreError::Unavailable(error.to_string()),
        },
    }
}

/// An update's errors: a type mismatch (`$inc` of text: TypeMismatch, 14) or
/// a bad value (`$addToSet` or `$pull` on a non-array, or an `$inc` past the
/// 64-bit range: BadValue, 2; names and values are checked before, so nothing
/// else of ours is bad) is the stored field's type,
/// [`ReadStoreError::WrongType`], as in SQLite. The server names the field in
/// its message in quotes when it can; else the operator tells which update it
/// was.
fn update_failure(error: MongoError, updates: &[Update]) -> ReadStoreError {
    let Some((14 | 2, message)) = server_error(&error) else { return failure(error) };
    let operator = |update: &Update| match update {
        Update::Set(..) => "$set",
        Update::Increment(..) => "$inc",
        Update::AddToSet(..) => "$addToSet",
        Update::RemoveFromSet(..) => "$pull",
    };
    let culprit = updates
        .iter()
        .filter(|u| !matches!(u, Update::Set(..)))
        .find(|u| message.contains(&format!("'{}'", u.field())))
        .or_else(|| updates.iter().find(|u| message.contains(operator(u))));
    match culprit {
        // Where SQLite's sum turns into a float, MongoDB refuses the sum.
        Some(update @ Update::Increment(..)) if message.contains("Failed to apply $inc") => {
            ReadStoreError::WrongType { field: update.field().to_owned(), expected: "a number the sum fits in 64 bits" }
        }
        Some(update @ Update::Increment(..)) => {
            ReadStoreError::WrongType { field: update.field().to_owned(), expected: "a number" }
        }
        Some(update @ (Update::AddToSet(..) | Update::RemoveFromSet(..))) => {
            ReadStoreError::WrongType { field: update.field().to_owned(), expected: "an array" }
        }
        _ => failure(error),
    }
}

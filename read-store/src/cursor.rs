//! Opaque page cursors: the last item's sort value and id, with the list they
//! belong to (its order, and a digest of its filter), as URL-safe base64 of a
//! small JSON object. A cursor comes back from strangers, so [`decode`] trusts
//! nothing in it: its length is bounded, every part is checked, and one made
//! for another list (another order, or another filter: someone else's
//! followers, another search) is refused. Anything wrong is
//! [`ReadStoreError::InvalidCursor`], never a panic, never a query.
//!
//! Resuming after a (value, id) position rather than skipping N items is what
//! keeps pages stable when documents are inserted between two requests.

use crate::ReadStoreError;
use crate::model::{Direction, Filter, Order, Query, check_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Longer cursors are refused before decoding: ids and sort values are short.
pub const MAX_CURSOR_CHARS: usize = 2048;

/// Where a page ended: the sort value of its last item (`null` when that
/// document lacks the field) and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The last item's value of the order's field.
    pub value: Value,
    /// The last item's id.
    pub id: String,
}

/// The cursor of the position `(value, id)` in the list `query` reads.
pub fn encode(query: &Query, value: &Value, id: &str) -> String {
    let Order { field, direction } = &query.order;
    let body = json!({ "f": field, "d": direction_code(*direction), "q": list(&query.filter), "v": value, "i": id });
    URL_SAFE_NO_PAD.encode(body.to_string())
}

/// The position a cursor names, if it is well formed and made for the list
/// `query` reads.
pub fn decode(query: &Query, cursor: &str) -> Result<Position, ReadStoreError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(ReadStoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ReadStoreError::InvalidCursor)?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| ReadStoreError::InvalidCursor)?;
    let field = body.get("f").and_then(Value::as_str);
    let direction = body.get("d").and_then(Value::as_str);
    let order = &query.order;
    if field != Some(order.field.as_str()) || direction != Some(direction_code(order.direction)) {
        return Err(ReadStoreError::InvalidCursor);
    }
    if body.get("q").and_then(Value::as_str) != Some(list(&query.filter).as_str()) {
        return Err(ReadStoreError::InvalidCursor);
    }
    let id = body.get("i").and_then(Value::as_str).ok_or(ReadStoreError::InvalidCursor)?;
    check_id(id).map_err(|_| ReadStoreError::InvalidCursor)?;
    let value = match body.get("v") {
        Some(v @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => v.clone(),
        _ => return Err(ReadStoreError::InvalidCursor),
    };
    Ok(Position { value, id: id.to_owned() })
}

/// Names a filter: a digest of its fields, values and words. A fixed seed,
/// so every process names a list alike (a digest differs only across
/// releases of the hash, which makes a cursor of the old release invalid).
fn list(filter: &Filter) -> String {
    use std::hash::BuildHasher;
    let text = json!([filter.equals, filter.words]).to_string();
    format!("{:016x}", foldhash::quality::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(text))
}

fn direction_code(direction: Direction) -> &'static str {
    match direction {
        Direction::Ascending => "a",
        Direction::Descending => "d",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(field: &str, direction: Direction) -> Query {
        Query::new(Filter::all(), field, direction)
    }

    #[test]
    fn a_cursor_decodes_to_the_position_it_was_made_from() {
        let order = by("created_at", Direction::Descending);
        for value in [json!(17), json!(2.5), json!("2026-01-01"), json!(true), Value::Null] {
            let cursor = encode(&order, &value, "post-1");
            assert_eq!(decode(&order, &cursor).unwrap(), Position { value, id: "post-1".into() });
        }
    }

    #[test]
    fn a_cursor_made_for_another_order_is_refused() {
        let cursor = encode(&by("created_at", Direction::Descending), &json!(1), "x");
        assert_eq!(decode(&by("created_at", Direction::Ascending), &cursor), Err(ReadStoreError::InvalidCursor));
        assert_eq!(decode(&by("name", Direction::Descending), &cursor), Err(ReadStoreError::InvalidCursor));
    }

    #[test]
    fn a_cursor_made_for_another_list_in_the_same_order_is_refused() {
        let followers_of = |user: &str| Query::new(Filter::all().eq("followee", user), "since", Direction::Descending);
        let cursor = encode(&followers_of("ana"), &json!(5), "x");
        assert!(decode(&followers_of("ana"), &cursor).is_ok());
        assert_eq!(decode(&followers_of("ben"), &cursor), Err(ReadStoreError::InvalidCursor));
        let following = Query::new(Filter::all().eq("follower", "ana"), "since", Direction::Descending);
        assert_eq!(decode(&following, &cursor), Err(ReadStoreError::InvalidCursor));
        let search = |text: &str| Query::new(Filter::all().search(text), "since", Direction::Descending);
        let found = encode(&search("spam"), &json!(5), "x");
        assert_eq!(decode(&search("ham"), &found), Err(ReadStoreError::InvalidCursor));
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        let order = by("n", Direction::Ascending);
        let forged = |body: Value| URL_SAFE_NO_PAD.encode(body.to_string());
        let long = "A".repeat(MAX_CURSOR_CHARS + 1);
        let cases = [
            String::new(),
            "%%%".into(),
            "////".into(),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00]),
            forged(json!([1, 2])),
            forged(json!({"f": "n", "d": "a", "v": 1, "i": "x"})),
            forged(json!({"f": "n", "d": "a", "q": 7, "v": 1, "i": "x"})),
            forged(json!({"f": "n", "d": "a", "v": 1})),
            forged(json!({"f": "n", "d": "a", "v": 1, "i": ""})),
            forged(json!({"f": "n", "d": "a", "v": 1, "i": 7})),
            forged(json!({"f": "n", "d": "a", "v": {"$gt": 1}, "i": "x"})),
            forged(json!({"f": "n", "d": "a", "v": [1], "i": "x"})),
            forged(json!({"f": "n", "d": "a", "v": 1, "i": "x".repeat(600)})),
            long,
        ];
        for cursor in cases {
            assert_eq!(decode(&order, &cursor), Err(ReadStoreError::InvalidCursor), "{cursor:?}");
        }
    }
}

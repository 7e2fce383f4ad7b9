//! Opaque page cursors: the last item's sort value and id, with the order they
//! belong to, as URL-safe base64 of a small JSON object. A cursor comes back
//! from strangers, so [`decode`] trusts nothing in it: its length is bounded,
//! every part is checked, and one made for another order is refused. Anything
//! wrong is [`ReadStoreError::InvalidCursor`], never a panic, never a query.
//!
//! Resuming after a (value, id) position rather than skipping N items is what
//! keeps pages stable when documents are inserted between two requests.

use crate::ReadStoreError;
use crate::model::{Direction, Order, check_id};
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

/// The cursor of the position `(value, id)` in `order`.
pub fn encode(order: &Order, value: &Value, id: &str) -> String {
    let body = json!({ "f": order.field, "d": direction_code(order.direction), "v": value, "i": id });
    URL_SAFE_NO_PAD.encode(body.to_string())
}

/// The position a cursor names, if it is well formed and made for `order`.
pub fn decode(order: &Order, cursor: &str) -> Result<Position, ReadStoreError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(ReadStoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ReadStoreError::InvalidCursor)?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| ReadStoreError::InvalidCursor)?;
    let field = body.get("f").and_then(Value::as_str);
    let direction = body.get("d").and_then(Value::as_str);
    if field != Some(order.field.as_str()) || direction != Some(direction_code(order.direction)) {
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

fn direction_code(direction: Direction) -> &'static str {
    match direction {
        Direction::Ascending => "a",
        Direction::Descending => "d",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(field: &str, direction: Direction) -> Order {
        Order { field: field.into(), direction }
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

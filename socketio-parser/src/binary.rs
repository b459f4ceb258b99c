//! Binary attachments of the JSON format: `{"_placeholder":true,"num":N}` placeholders
//! and their reassembly (the reference `binary.ts`).

use bytes::Bytes;

use crate::error::DecodeError;
use crate::value::{Map, Value};

/// What one walk over a payload learns before encoding it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scan {
    /// Number of binary values (= attachments if the packet is an event or ack).
    pub(crate) binaries: usize,
    /// A cheap estimate of the JSON length, to size the output buffer once.
    pub(crate) json_len_estimate: usize,
}

/// Counts binary values and estimates the encoded size, in one walk.
pub(crate) fn scan(value: &Value) -> Scan {
    let mut scan = Scan::default();
    scan_into(value, &mut scan);
    scan
}

fn scan_into(value: &Value, scan: &mut Scan) {
    match value {
        Value::Null | Value::Bool(_) => scan.json_len_estimate += 5,
        Value::Number(_) => scan.json_len_estimate += 8,
        Value::String(s) => scan.json_len_estimate += s.len() + 2,
        Value::Binary(_) => {
            scan.binaries += 1;
            scan.json_len_estimate += 28;
        }
        Value::Array(items) => {
            scan.json_len_estimate += 2 + items.len();
            for item in items {
                scan_into(item, scan);
            }
        }
        Value::Object(map) => {
            scan.json_len_estimate += 2 + map.len();
            for (k, v) in map {
                scan.json_len_estimate += k.len() + 3;
                scan_into(v, scan);
            }
        }
    }
}

/// If `map` is a placeholder (`_placeholder` is `true`, as the reference tests), returns
/// its attachment index, or the error for an index that is not one.
fn placeholder_index(map: &Map, attachments: usize) -> Option<Result<usize, DecodeError>> {
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let num = map.get("num");
    let index = num.and_then(|n| match n {
        Value::Number(n) => n.as_u64().or_else(|| {
            // `1.0` is the number 1 in JavaScript.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        }),
        _ => None,
    });
    Some(match index {
        Some(i) if i < attachments as u64 => Ok(i as usize),
        _ => Err(DecodeError::PlaceholderOutOfRange {
            num: num.map_or_else(|| "undefined".to_owned(), Value::to_string),
            attachments,
        }),
    })
}

/// Checks every placeholder of a binary packet before its attachments are buffered, so
/// a packet that can never be rebuilt is refused at once.
pub(crate) fn check_placeholders(value: &Value, attachments: usize) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_placeholders(v, attachments)),
        Value::Object(map) => match placeholder_index(map, attachments) {
            Some(result) => result.map(|_| ()),
            None => map
                .values()
                .try_for_each(|v| check_placeholders(v, attachments)),
        },
        _ => Ok(()),
    }
}

/// Replaces every placeholder with its attachment (a reference-count clone, no copy).
pub(crate) fn reconstruct(value: &mut Value, buffers: &[Bytes]) -> Result<(), DecodeError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| reconstruct(v, buffers)),
        Value::Object(map) => match placeholder_index(map, buffers.len()) {
            Some(result) => {
                let index = result?;
                let bytes = buffers.get(index).cloned().unwrap_or_default();
                *value = Value::Binary(bytes);
                Ok(())
            }
            None => map.values_mut().try_for_each(|v| reconstruct(v, buffers)),
        },
        _ => Ok(()),
    }
}

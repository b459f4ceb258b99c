//! The stream readers: one task and one connection per stream (a blocked `XREAD` must not
//! hold up commands), handing each entry to the adapter of its namespace, in stream order.
//!
//! A reader starts after the last entry that exists when it starts, and resumes after the last
//! entry it read when its connection fails, so it never reads an entry twice. Entries written
//! while it could not read are read when it is back, as long as the stream still holds them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::Value as RedisValue;

use super::wire::{RawEntry, StreamId};
use super::Shared;
use crate::redis::connection::{manager_config, LinkConfig};

/// Registers `stream` and spawns its reader, once the id to start after is known.
pub(crate) async fn start(shared: &Arc<Shared>, stream: String) -> Result<(), redis::RedisError> {
    {
        let mut readers = shared.readers.lock();
        if readers.contains_key(&stream) {
            return Ok(());
        }
        readers.insert(stream.clone(), None);
    }
    // The blocked XREAD must not count as a stuck command.
    let link = LinkConfig {
        response_timeout: shared.config.block_time + shared.config.link.response_timeout,
        ..shared.config.link.clone()
    };
    let started = async {
        let mut conn = shared
            .client
            .get_connection_manager_with_config(manager_config(&link))
            .await?;
        let last = last_id(&mut conn, &stream).await?;
        Ok::<_, redis::RedisError>((conn, last))
    }
    .await;
    let (conn, last) = match started {
        Ok(v) => v,
        Err(e) => {
            shared.readers.lock().remove(&stream);
            return Err(e);
        }
    };
    shared.readers.lock().insert(stream.clone(), Some(last));
    tokio::spawn(read_loop(Arc::downgrade(shared), conn, stream, last));
    Ok(())
}

/// The id of the last entry of `stream`, `0-0` when it is empty or does not exist.
async fn last_id(
    conn: &mut ConnectionManager,
    stream: &str,
) -> Result<StreamId, redis::RedisError> {
    let reply: RedisValue = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(parse_entries(reply)
        .into_iter()
        .next()
        .map_or(StreamId { ms: 0, seq: 0 }, |(id, _)| id))
}

async fn read_loop(
    shared: Weak<Shared>,
    mut conn: ConnectionManager,
    stream: String,
    mut last: StreamId,
) {
    let mut delay = Duration::from_millis(50);
    loop {
        let (count, block) = match shared.upgrade() {
            Some(s) => (s.config.read_count, s.config.block_time),
            None => return,
        };
        let reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(&stream)
            .arg(last.to_string())
            .query_async::<RedisValue>(&mut conn)
            .await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match reply {
            Ok(reply) => {
                delay = Duration::from_millis(50);
                for (id, entry) in parse_read_reply(reply) {
                    // Ids only grow; an entry at or before `last` would be a second read.
                    if id <= last {
                        continue;
                    }
                    last = id;
                    let Some(nsp) = entry.nsp.as_deref() else {
                        continue;
                    };
                    if let Some(adapter) = shared.adapter_for(nsp) {
                        adapter.on_entry(id, &entry);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(%stream, "cannot read the stream, retrying from {last}: {e}");
                drop(shared);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn bytes_of(v: RedisValue) -> Option<Bytes> {
    match v {
        RedisValue::BulkString(b) => Some(Bytes::from(b)),
        RedisValue::SimpleString(s) => Some(Bytes::from(s)),
        RedisValue::VerbatimString { text, .. } => Some(Bytes::from(text)),
        _ => None,
    }
}

fn items_of(v: RedisValue) -> Vec<RedisValue> {
    match v {
        RedisValue::Array(items) | RedisValue::Set(items) => items,
        RedisValue::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// Entries of an `XRANGE`/`XREVRANGE` reply: `[[id, [field, value, …]], …]`. Entries with an
/// id that is not `<ms>-<seq>` are skipped; odd fields are ignored.
pub(crate) fn parse_entries(v: RedisValue) -> Vec<(StreamId, RawEntry)> {
    items_of(v)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = items_of(entry).into_iter();
            let id = bytes_of(parts.next()?)?;
            let id = StreamId::parse(std::str::from_utf8(&id).ok()?)?;
            let mut flat = items_of(parts.next()?).into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                if let (Some(k), Some(v)) = (bytes_of(k), bytes_of(v)) {
                    pairs.push((k, v));
                }
            }
            Some((id, RawEntry::from_pairs(pairs)))
        })
        .collect()
}

/// Entries of an `XREAD` reply for one stream: `[[name, entries]]` (RESP2) or
/// `{name: entries}` (RESP3); `nil` when the block timed out.
fn parse_read_reply(v: RedisValue) -> Vec<(StreamId, RawEntry)> {
    match v {
        RedisValue::Map(pairs) => pairs
            .into_iter()
            .flat_map(|(_, entries)| parse_entries(entries))
            .collect(),
        RedisValue::Array(streams) => streams
            .into_iter()
            .flat_map(|s| {
                let mut parts = items_of(s).into_iter();
                let _name = parts.next();
                parts.next().map(parse_entries).unwrap_or_default()
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> RedisValue {
        RedisValue::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_are_parsed_leniently() {
        let entry = |id: &str| {
            RedisValue::Array(vec![
                bulk(id),
                RedisValue::Array(vec![
                    bulk("nsp"),
                    bulk("/"),
                    bulk("type"),
                    bulk("3"),
                    bulk("odd"),
                ]),
            ])
        };
        let reply = RedisValue::Map(vec![(
            bulk("socket.io"),
            RedisValue::Array(vec![
                entry("1-1"),
                entry("garbage"),
                RedisValue::Int(3),
                entry("2-0"),
            ]),
        )]);
        let got = parse_read_reply(reply);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, StreamId { ms: 1, seq: 1 });
        assert_eq!(got[1].1.nsp.as_deref(), Some("/"));
        assert_eq!(got[1].1.ty.as_deref(), Some("3"));
        assert!(parse_read_reply(RedisValue::Nil).is_empty());
    }
}

//! What the UI receives, as the reference serializes it: the config, the sockets, the server
//! statistics and the dates.

use serde::Serialize;
use socketio_adapter::Handshake;
use socketio_parser::{Map, Value};

use crate::handshake::{iso_date_string, now_millis};
use crate::{Namespace, SocketIo, SocketRef};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Config {
    pub(super) supported_features: Vec<&'static str>,
}
/// A socket as the UI knows it (reference `serialize`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SerializedSocket {
    pub(super) id: String,
    pub(super) client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) transport: Option<String>,
    pub(super) nsp: String,
    pub(super) data: Value,
    pub(super) handshake: SerializedHandshake,
    pub(super) rooms: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct SerializedHandshake {
    pub(super) address: String,
    pub(super) headers: std::collections::BTreeMap<String, String>,
    pub(super) query: std::collections::BTreeMap<String, String>,
    pub(super) issued: u64,
    pub(super) secure: bool,
    pub(super) time: String,
    pub(super) url: String,
    pub(super) xdomain: bool,
}

impl SerializedHandshake {
    fn new(h: &Handshake) -> Self {
        // Behind a proxy, the client's address as the reference reads it.
        let address = h
            .headers
            .get("cf-connecting-ip")
            .or_else(|| h.headers.get("x-forwarded-for"))
            .cloned()
            .unwrap_or_else(|| h.address.clone());
        Self {
            address,
            headers: h.headers.clone(),
            query: h.query.clone(),
            issued: h.issued,
            secure: h.secure,
            time: h.time.clone(),
            url: h.url.clone(),
            xdomain: h.xdomain,
        }
    }
}

/// The socket data without the reference's `_admin` bookkeeping (reference `serializeData`).
pub(super) fn user_data(data: &Value) -> Value {
    match data {
        Value::Object(map) => {
            let mut map = map.clone();
            map.shift_remove("_admin");
            Value::Object(map)
        }
        _ => Value::Object(Map::new()),
    }
}

pub(super) fn serialize_local(socket: &SocketRef) -> SerializedSocket {
    SerializedSocket {
        id: socket.id().to_string(),
        client_id: socket.conn().id().chars().take(12).collect(),
        transport: Some(socket.transport().to_owned()),
        nsp: socket.ns_name().to_owned(),
        data: user_data(&socket.data_value()),
        handshake: SerializedHandshake::new(socket.handshake()),
        rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
    }
}

/// Every socket of every namespace of this node, on every node (reference `fetchAllSockets`).
pub(super) async fn all_sockets(io: &SocketIo) -> Vec<SerializedSocket> {
    let mut out = Vec::new();
    for ns in io.0.namespace_list() {
        let ns = Namespace(ns);
        let Ok(remote) = ns.fetch_sockets().await else {
            continue;
        };
        for r in remote {
            if let Some(local) = ns.get_socket(r.id()) {
                out.push(serialize_local(&local));
                continue;
            }
            // Another node: npm nodes keep the client id and transport in `data._admin`.
            let admin = r.data_value().get("_admin");
            let field = |name: &str| {
                admin
                    .and_then(|a| a.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            out.push(SerializedSocket {
                id: r.id().to_string(),
                client_id: field("clientId").unwrap_or_else(|| r.id().to_string()),
                transport: field("transport"),
                nsp: ns.name().to_owned(),
                data: user_data(r.data_value()),
                handshake: SerializedHandshake::new(r.handshake()),
                rooms: r.rooms().iter().map(|room| room.to_string()).collect(),
            });
        }
    }
    out
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AggregatedEvent {
    pub(super) timestamp: u64,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sub_type: Option<&'static str>,
    pub(super) count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NamespaceStats {
    pub(super) name: String,
    pub(super) sockets_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerStats {
    pub(super) server_id: String,
    pub(super) hostname: String,
    pub(super) pid: u32,
    pub(super) uptime: f64,
    pub(super) clients_count: usize,
    pub(super) polling_clients_count: usize,
    pub(super) aggregated_events: Vec<AggregatedEvent>,
    pub(super) namespaces: Vec<NamespaceStats>,
}
/// `new Date()` as it travels in JSON.
pub(super) fn now() -> Value {
    Value::String(iso_date_string(now_millis()))
}

//! The handshake: [`Handshake`], the JSON data of the `open` packet (codec),
//! and with the `server` feature, opening a session: a fresh sid, the socket
//! registered with its open packet queued, and the polling handshake answer
//! (the WebSocket one is the 101 of [`crate::websocket`]).

use serde::{Deserialize, Serialize};

/// The data of the `open` packet sent by the server at the start of a session:
/// `{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`.
///
/// Fields serialize in exactly this order and with exactly these keys, as the
/// reference server sends them. `maxPayload` is optional on deserialization
/// because v3 servers older than engine.io 6 do not send it.
///
/// ```
/// use engine_io::Handshake;
/// let h = Handshake {
///     sid: "abc".into(),
///     upgrades: vec!["websocket".into()],
///     ping_interval: 25000,
///     ping_timeout: 20000,
///     max_payload: Some(1_000_000),
/// };
/// assert_eq!(
///     serde_json::to_string(&h).unwrap(),
///     r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to (`["websocket"]` over polling, `[]` otherwise).
    pub upgrades: Vec<String>,
    /// Heartbeat interval in milliseconds.
    pub ping_interval: u64,
    /// Heartbeat timeout in milliseconds.
    pub ping_timeout: u64,
    /// Largest payload the server accepts (its `maxHttpBufferSize`), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u64>,
}

#[cfg(feature = "server")]
impl Handshake {
    /// The JSON of the `open` packet, byte for byte as `serde_json::to_string` writes this
    /// struct, straight into a string of exactly its length when no string needs an escape
    /// (session ids and transport names never do): one allocation per session, and a `Str`
    /// made from it allocates no shared header (a `Bytes` from a `Vec` with spare room does).
    pub(crate) fn open_json(
        sid: &str,
        upgrades: &[&str],
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: Option<u64>,
    ) -> String {
        let plain = |s: &str| s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
        if !plain(sid) || !upgrades.iter().all(|u| plain(u)) {
            let handshake = Handshake {
                sid: sid.to_owned(),
                upgrades: upgrades.iter().map(|u| (*u).to_owned()).collect(),
                ping_interval,
                ping_timeout,
                max_payload,
            };
            return serde_json::to_string(&handshake).unwrap_or_default();
        }
        let mut interval_digits = itoa::Buffer::new();
        let mut timeout_digits = itoa::Buffer::new();
        let mut max_digits = itoa::Buffer::new();
        let interval = interval_digits.format(ping_interval);
        let timeout = timeout_digits.format(ping_timeout);
        let max = max_payload.map(|m| max_digits.format(m));
        const SID: &str = r#"{"sid":""#;
        const UPGRADES: &str = r#"","upgrades":["#;
        const INTERVAL: &str = r#"],"pingInterval":"#;
        const TIMEOUT: &str = r#","pingTimeout":"#;
        const MAX: &str = r#","maxPayload":"#;
        let upgrades_len: usize = upgrades.iter().map(|u| u.len() + 3).sum::<usize>();
        let len = SID.len()
            + sid.len()
            + UPGRADES.len()
            + upgrades_len.saturating_sub(1)
            + INTERVAL.len()
            + interval.len()
            + TIMEOUT.len()
            + timeout.len()
            + max.as_ref().map_or(0, |m| MAX.len() + m.len())
            + 1;
        let mut out = String::with_capacity(len);
        out.push_str(SID);
        out.push_str(sid);
        out.push_str(UPGRADES);
        for (i, u) in upgrades.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(u);
            out.push('"');
        }
        out.push_str(INTERVAL);
        out.push_str(interval);
        out.push_str(TIMEOUT);
        out.push_str(timeout);
        if let Some(max) = max {
            out.push_str(MAX);
            out.push_str(max);
        }
        out.push('}');
        out
    }
}

#[cfg(feature = "server")]
pub(crate) use server_side::{create_socket, polling};

#[cfg(feature = "server")]
mod server_side {
    use super::Handshake;
    use crate::body::ResponseBody;
    use crate::packet::{Packet, ProtocolVersion};
    use crate::request::RequestInfo;
    use crate::shared::Shared;
    use crate::{Socket, Str, TransportType};
    use base64::Engine as _;
    use http::{HeaderMap, Response};
    use std::collections::hash_map::Entry;
    use std::sync::Arc;

    /// A fresh session id: 15 bytes from a CSPRNG, URL-safe base64 (20 chars),
    /// after the cluster node's id when the server is a node of a cluster.
    fn generate_sid(prefix: &str) -> Str {
        let mut raw = [0u8; 15];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
        let mut sid = String::with_capacity(prefix.len() + 20);
        sid.push_str(prefix);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(raw, &mut sid);
        Str::from(sid)
    }

    /// Creates and registers a new socket with its open packet (and initial packet) queued.
    pub(crate) fn create_socket(
        shared: &Arc<Shared>,
        info: RequestInfo,
        protocol: ProtocolVersion,
        transport: TransportType,
    ) -> Arc<Socket> {
        let cfg = &shared.config;
        let socket = {
            let mut map = shared.sockets.lock();
            let prefix = cfg.cluster.as_ref().map_or("", |c| c.sid_prefix());
            // One lookup per id tried (a taken id, 120 random bits, is all but impossible).
            loop {
                if let Entry::Vacant(slot) = map.entry(generate_sid(prefix)) {
                    let sid = slot.key().clone();
                    let socket = Socket::new(sid, protocol, info, transport, shared.clone());
                    break slot.insert(socket).clone();
                }
            }
        };
        // The reference's order (polling's `upgradesTo`), of those enabled.
        let mut upgrades = [""; 2];
        let mut upgrade_count = 0;
        if cfg.allow_upgrades && transport == TransportType::Polling {
            for t in [TransportType::Websocket, TransportType::Webtransport] {
                // Only what this build can serve.
                if cfg.transport_enabled(t)
                    && (cfg!(feature = "webtransport") || t != TransportType::Webtransport)
                {
                    upgrades[upgrade_count] = t.as_str();
                    upgrade_count += 1;
                }
            }
        }
        let json = Handshake::open_json(
            socket.id(),
            &upgrades[..upgrade_count],
            cfg.ping_interval.as_millis() as u64,
            cfg.ping_timeout.as_millis() as u64,
            Some(cfg.max_http_buffer_size as u64),
        );
        {
            let mut st = socket.lock();
            Socket::push_control(&mut st, Packet::open(json));
            if let Some(m) = &cfg.initial_packet {
                Socket::push_control(&mut st, Packet::message(m.clone()));
            }
        }
        socket
    }

    /// A new session over polling: the open packet is the answer.
    pub(crate) fn polling(
        shared: &Arc<Shared>,
        info: RequestInfo,
        protocol: ProtocolVersion,
        parts: &http::request::Parts,
        cors_headers: Option<HeaderMap>,
    ) -> Response<ResponseBody> {
        let socket = create_socket(shared, info, protocol, TransportType::Polling);
        let packets = {
            let mut st = socket.lock();
            let p = socket.drain_queue(&mut st);
            socket.mark_written(&mut st, p.len() as u64);
            p
        };
        let res =
            crate::polling::payload_response(&socket, &parts.headers, &packets, cors_headers, true);
        crate::driver::spawn(socket.clone(), None);
        match shared
            .config
            .cluster
            .as_ref()
            .and_then(|c| c.connect_delay())
        {
            Some(delay) => delay_connect(socket, delay),
            None => shared.handler.on_connect(socket),
        }
        res
    }

    /// The polling handshake's `on_connect`, `delay` later (see
    /// [`crate::Cluster::connect_delay`]).
    fn delay_connect(socket: Arc<Socket>, delay: std::time::Duration) {
        socket.lock().connect = crate::socket::Connect::Delayed;
        // One timer per new polling session, as the reference's `setTimeout`.
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            socket.connect_now();
        });
    }

    impl Socket {
        /// Ends a delayed connection: `on_connect`, then the messages kept
        /// meanwhile, in order (messages arriving meanwhile queue behind them),
        /// then `on_upgrade` if the session upgraded meanwhile.
        fn connect_now(self: &Arc<Self>) {
            {
                let mut st = self.lock();
                if st.connect != crate::socket::Connect::Delayed || !st.session.is_open() {
                    return;
                }
                st.connect = crate::socket::Connect::Replaying;
            }
            self.replay_connect();
        }

        /// The end of a delayed connection (the socket is `Replaying`):
        /// `on_connect`, then the messages kept, then `on_upgrade` if due.
        pub(crate) fn replay_connect(self: &Arc<Self>) {
            self.shared.handler.on_connect(self.clone());
            loop {
                let mut st = self.lock();
                let next = if self.shared.is_stream() {
                    None
                } else {
                    st.inbox.pop_front()
                };
                match next {
                    Some(m) => {
                        drop(st);
                        self.shared.handler.on_message(self, m);
                    }
                    None => {
                        st.connect = crate::socket::Connect::Done;
                        let upgraded = st.session.upgrade() == crate::session::Upgrade::Done;
                        drop(st);
                        if upgraded {
                            self.shared.handler.on_upgrade(self);
                        }
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::Handshake;

    /// `open_json` writes what serde writes for the same handshake: ids with and without
    /// characters to escape (a cluster prefix could hold any), no, one or two upgrades, any
    /// number and no `maxPayload`; and its string has no spare capacity.
    #[test]
    fn open_json_matches_serde() {
        let sids = ["AAAAAAAAAAAAAAAAAAAA", "", "node\"1\\x\u{1}é", "n1~Ab-_"];
        let upgrade_lists: [&[&str]; 4] = [
            &[],
            &["websocket"],
            &["websocket", "webtransport"],
            &["a\"b"],
        ];
        for sid in sids {
            for upgrades in upgrade_lists {
                for (interval, timeout, max) in [
                    (25000, 20000, Some(1_000_000)),
                    (0, 9, None),
                    (u64::MAX, 10, Some(0)),
                ] {
                    let json = Handshake::open_json(sid, upgrades, interval, timeout, max);
                    let handshake = Handshake {
                        sid: sid.to_owned(),
                        upgrades: upgrades.iter().map(|u| (*u).to_owned()).collect(),
                        ping_interval: interval,
                        ping_timeout: timeout,
                        max_payload: max,
                    };
                    let serde = serde_json::to_string(&handshake).unwrap();
                    assert_eq!(json, serde, "{sid} {upgrades:?}");
                    let back: Handshake = serde_json::from_str(&json).unwrap();
                    assert_eq!(back, handshake);
                    if !sid.contains(['"', '\\', '\u{1}'])
                        && !upgrades.iter().any(|u| u.contains('"'))
                    {
                        assert_eq!(json.len(), json.capacity(), "{json}");
                    }
                }
            }
        }
        assert_eq!(
            Handshake::open_json("abc", &["websocket"], 25000, 20000, Some(1_000_000)),
            r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
    }
}

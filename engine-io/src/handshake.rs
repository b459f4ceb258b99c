//! [`Handshake`]: the JSON data of the `open` packet.

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

//! The settings of the Redis adapter ([`RedisAdapterConfig`]) and its pub/sub flavour
//! ([`RedisMode`]).

use std::time::Duration;

use crate::redis::connection::LinkConfig;
use crate::redis::sharded::SubscriptionMode;

/// The reference's default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(5000);

/// Which Redis pub/sub flavour the cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    /// Classic pub/sub (`PUBLISH`/`PSUBSCRIBE`): npm `createAdapter`.
    #[default]
    Classic,
    /// Redis 7 sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`): npm `createShardedAdapter`.
    Sharded(SubscriptionMode),
}

/// Settings of the Redis adapter (same names and defaults as the reference's options).
///
/// ```
/// use std::time::Duration;
/// use socketio_adapter::redis::{RedisAdapterConfig, RedisMode};
///
/// let config = RedisAdapterConfig::default()
///     .key("myapp")
///     .request_timeout(Duration::from_secs(2))
///     .mode(RedisMode::Classic);
/// assert_eq!(config.key_prefix(), "myapp");
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    pub(super) key: String,
    pub(super) request_timeout: Duration,
    pub(super) publish_on_specific_response_channel: bool,
    pub(super) mode: RedisMode,
    pub(super) link: LinkConfig,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        RedisAdapterConfig {
            key: "socket.io".to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            publish_on_specific_response_channel: false,
            mode: RedisMode::Classic,
            link: LinkConfig::default(),
        }
    }
}

impl RedisAdapterConfig {
    /// The key prefix of every channel (option `key`, or `channelPrefix` in sharded mode).
    /// Default `socket.io`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The key prefix in use.
    pub fn key_prefix(&self) -> &str {
        &self.key
    }

    /// How long a request waits for the other nodes (option `requestsTimeout`). Default 5 s.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Answer requests on the requester's own response channel (option
    /// `publishOnSpecificResponseChannel`). Default off. Classic mode only.
    #[must_use]
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// Classic or sharded pub/sub. Default classic.
    #[must_use]
    pub fn mode(mut self, mode: RedisMode) -> Self {
        self.mode = mode;
        self
    }

    /// Connection timeouts and retry pacing of the Redis link.
    #[must_use]
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.link = link;
        self
    }
}

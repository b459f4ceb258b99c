//! The reference's basic authentication of the Admin UI, and the sessions it remembers.

use std::collections::VecDeque;
use std::sync::Arc;

use socketio_parser::Value;

use super::AdminAuth;
use crate::{ConnectError, SocketRef};

/// Admin sessions remembered for re-authentication (oldest forgotten first).
const MAX_SESSIONS: usize = 1024;

/// The admin session id given to a UI that logged in with its password.
#[derive(Clone)]
pub(super) struct AdminSession(pub(super) String);

/// The reference's basic authentication: a known session id, or the username and a password
/// matching the bcrypt hash (checked on the blocking pool: bcrypt is slow on purpose).
pub(super) async fn authenticate(
    socket: SocketRef,
    auth: AdminAuth,
    sessions: Arc<parking_lot::Mutex<VecDeque<String>>>,
) -> Result<(), ConnectError> {
    let handshake_auth = &socket.handshake().auth;
    if let Some(id) = handshake_auth.get("sessionId").and_then(Value::as_str) {
        if sessions.lock().iter().any(|s| s == id) {
            return Ok(());
        }
    }
    let username = handshake_auth.get("username").and_then(Value::as_str);
    let password = handshake_auth
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let (Some(username), Some(password)) = (username, password) {
        if username == auth.username {
            let hash = auth.password_hash.clone();
            let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if matches {
                let id = random_id();
                {
                    let mut sessions = sessions.lock();
                    if sessions.len() >= MAX_SESSIONS {
                        sessions.pop_front();
                    }
                    sessions.push_back(id.clone());
                }
                // Sent once connected (the reference emits it from the middleware; its client
                // buffers it until the connection).
                socket.extensions().insert(AdminSession(id));
                return Ok(());
            }
        }
    }
    Err(ConnectError::new("invalid credentials"))
}

pub(super) fn random_id() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

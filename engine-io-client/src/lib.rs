//! Engine.IO client: polling, WebSocket, upgrade, cookie jar, TLS.

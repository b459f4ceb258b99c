//! A real redis-server for the crate's tests.

/// A redis-server on a free port, killed on drop.
pub(crate) struct Redis(std::process::Child, pub(crate) u16);

impl Redis {
    pub(crate) fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is needed (Debian package redis-server)");
        Redis(child, port)
    }

    /// Sends `sig` (`-STOP`, `-CONT`: a Redis that stalls) to the server.
    pub(crate) fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {sig}");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

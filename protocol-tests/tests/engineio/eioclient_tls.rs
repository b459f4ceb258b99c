//! Our `engine-io-client` over TLS (`https://` polling and `wss://`) against the npm `engine.io`
//! server on an HTTPS server whose certificate comes from a throwaway CA made with `openssl`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use engine_io_client::rustls::pki_types::pem::PemObject;
use engine_io_client::rustls::pki_types::CertificateDer;
use engine_io_client::{Client, Event, Events, Message, TransportType};
use protocol_tests::NodePeer;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

/// A CA and a certificate it signed for `localhost` and `127.0.0.1`, in a temporary directory
/// (removed on drop).
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn new(name: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("eioclient-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = r#"set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=eioclient-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out leaf.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext 2>/dev/null
"#;
        let status = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .status()
            .expect("openssl is needed for the TLS tests");
        assert!(status.success(), "openssl failed");
        Certs { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    fn ca(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.dir.join("ca.pem")).unwrap()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_peer(certs: &Certs) -> NodePeer {
    NodePeer::spawn(
        "eioclient-peer.js",
        &["--tls", &certs.path("cert.pem"), &certs.path("key.pem")],
        &[],
    )
}

async fn echo(client: &Client, events: &mut Events) {
    client.send("over tls").await.unwrap();
    client.send(vec![1u8, 2, 3]).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match timeout(STEP, events.recv()).await.unwrap().unwrap() {
            Event::Message(m) => got.push(m),
            Event::Upgrade(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        got,
        vec![Message::from("over tls"), Message::from(vec![1u8, 2, 3])]
    );
}

#[tokio::test]
async fn supplied_root_polling_and_upgrade_to_wss() {
    let certs = Certs::new("root");
    let server = tls_peer(&certs);
    let (client, mut events) = Client::builder(format!("https://localhost:{}", server.port()))
        .add_root_certificate(certs.ca())
        .connect()
        .await
        .unwrap();
    echo(&client, &mut events).await;
    // The upgrade to wss:// with the same roots.
    let deadline = tokio::time::Instant::now() + STEP;
    while client.transport() != TransportType::Websocket {
        assert!(tokio::time::Instant::now() < deadline, "no upgrade");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    echo(&client, &mut events).await;
    client.close().await;
}

#[tokio::test]
async fn untrusted_certificates_are_refused_by_default() {
    let certs = Certs::new("untrusted");
    let server = tls_peer(&certs);
    for transport in [TransportType::Polling, TransportType::Websocket] {
        let err = Client::builder(format!("https://localhost:{}", server.port()))
            .transports([transport])
            .connect()
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("certificate") || text.contains("UnknownIssuer"),
            "{transport}: {text}"
        );
    }
}

#[tokio::test]
async fn accept_invalid_certs_opt_in() {
    let certs = Certs::new("insecure");
    let server = tls_peer(&certs);
    // Untrusted CA and, with 127.0.0.1 in the URL, still accepted once opted in.
    for transports in [
        vec![TransportType::Websocket],
        vec![TransportType::Polling, TransportType::Websocket],
    ] {
        let (client, mut events) = Client::builder(format!("wss://127.0.0.1:{}", server.port()))
            .transports(transports)
            .danger_accept_invalid_certs(true)
            .connect()
            .await
            .unwrap();
        echo(&client, &mut events).await;
        client.close().await;
    }
}

//! TLS for `https://` and `wss://` URLs, over rustls with the ring crypto provider.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::Error;

/// Which certificate authorities a client trusts for `https://` and `wss://`.
///
/// The default is [`TlsRoots::WebPki`], the Mozilla root program compiled into the binary, which
/// works the same on every machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The Mozilla roots of the `webpki-roots` crate.
    #[default]
    WebPki,
    /// The operating system's trust store (`rustls-native-certs`).
    Native,
    /// Only the certificates added with
    /// [`ClientBuilder::add_root_certificate`](crate::ClientBuilder::add_root_certificate).
    None,
}

/// The TLS settings collected by the builder.
#[derive(Clone, Default)]
pub(crate) struct TlsOptions {
    pub(crate) roots: TlsRoots,
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) custom: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("roots", &self.roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // An explicit provider: `ClientConfig::builder()` would panic when the process has several
    // providers compiled in (feature unification in a larger program) and none installed.
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsOptions {
    /// Builds the rustls configuration. Called once per client, not per connection.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(custom) = &self.custom {
            return Ok(custom.clone());
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let config = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            match self.roots {
                TlsRoots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
                TlsRoots::Native => {
                    let found = rustls_native_certs::load_native_certs();
                    for err in &found.errors {
                        tracing::warn!(%err, "engine.io client: could not load a system root");
                    }
                    let (added, ignored) = roots.add_parsable_certificates(found.certs);
                    tracing::debug!(added, ignored, "engine.io client: loaded system roots");
                }
                TlsRoots::None => {}
            }
            for cert in &self.extra_roots {
                roots
                    .add(cert.clone())
                    .map_err(|e| Error::Tls(format!("bad root certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::Tls("no trusted root certificate".to_owned()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Arc::new(config))
    }
}

/// The opt-in "accept invalid certificates" verifier, for tests against self-signed servers.
/// It still checks that the handshake signatures are valid, so the connection is encrypted; it
/// only skips the certificate chain and name checks (so it does not authenticate the server).
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds() {
        TlsOptions::default().client_config().unwrap();
        let insecure = TlsOptions {
            accept_invalid_certs: true,
            ..TlsOptions::default()
        };
        insecure.client_config().unwrap();
    }

    #[test]
    fn no_roots_is_an_error() {
        let none = TlsOptions {
            roots: TlsRoots::None,
            ..TlsOptions::default()
        };
        assert!(matches!(none.client_config(), Err(Error::Tls(_))));
    }
}

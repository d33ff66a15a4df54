//! HTTPS to the Box (TR-064 on port 49443). Its certificate is self-signed,
//! so no CA vouches for it: like ssh, we trust the certificate seen on first
//! use, say so with its SHA-256 fingerprint, and from then on accept only
//! that certificate (the pin replaces both the CA and the host name check).
//! The TLS handshake itself is verified as usual (rustls, ring).
//!
//! ureq has no hook for a custom certificate verifier, so this is a ureq
//! connector that wraps the TCP transport in rustls with our verifier.

use std::fmt;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use crate::config::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Accepts exactly the pinned certificate, or on first use (no pin) any
/// certificate; records what it saw either way.
#[derive(Debug)]
pub(super) struct PinVerifier {
    pin: Option<Fingerprint>,
    seen: Mutex<Option<Fingerprint>>,
    provider: Arc<CryptoProvider>,
}

impl PinVerifier {
    pub(super) fn new(pin: Option<Fingerprint>) -> Arc<PinVerifier> {
        Arc::new(PinVerifier {
            pin,
            seen: Mutex::new(None),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }

    /// The certificate the Box presented last.
    pub(super) fn seen(&self) -> Option<Fingerprint> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn pin(&self) -> Option<Fingerprint> {
        self.pin
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of(end_entity);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        match self.pin {
            Some(pin) if pin != fp => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the agent's connector chain: TCP, then TLS with `verifier` for
/// `https` URLs.
pub(super) fn connector(verifier: Arc<PinVerifier>) -> impl Connector {
    let provider = verifier.provider.clone();
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    ().chain(ureq::unversioned::transport::TcpConnector::default())
        .chain(PinnedTls {
            config: Arc::new(config),
        })
}

struct PinnedTls {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for PinnedTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinnedTls")
    }
}

fn io_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ureq::Error {
    ureq::Error::Io(std::io::Error::other(e))
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        // The name only feeds SNI; the pin decides whom we talk to.
        let host = details.uri.host().unwrap_or("fritz.box");
        let name =
            ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).map_err(io_error)?;
        let mut conn = ClientConnection::new(self.config.clone(), name).map_err(io_error)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

pub(super) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        self.stream.write_all(&self.buffers.output()[..amount])?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let n = self.stream.read(self.buffers.input_append_buf())?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_forms() {
        // FIPS 180-2 example: SHA-256("abc") = ba7816bf…
        assert_eq!(Fingerprint::of(b"abc").0[..4], [0xba, 0x78, 0x16, 0xbf]);
        let fp = Fingerprint::of(b"certificate");
        let shown = fp.to_string();
        assert!(shown.starts_with("SHA256:") && shown.len() == 7 + 32 * 3 - 1);
        assert_eq!(shown.parse::<Fingerprint>(), Ok(fp));
        assert_eq!(shown.to_lowercase().parse::<Fingerprint>(), Ok(fp));
        let openssl = format!("sha256 Fingerprint={}", &shown[7..]);
        assert_eq!(openssl.parse::<Fingerprint>(), Ok(fp));
        let bare: String = shown[7..].chars().filter(|c| *c != ':').collect();
        assert_eq!(bare.parse::<Fingerprint>(), Ok(fp));
        assert!("SHA256:AB:CD".parse::<Fingerprint>().is_err());
        assert!(
            "zz".repeat(32)
                .parse::<Fingerprint>()
                .unwrap_err()
                .to_string()
                .contains("not a SHA-256 fingerprint")
        );
    }
}

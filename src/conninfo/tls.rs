//! TLS with rustls, as libpq's `sslmode` means it: `require` encrypts without
//! checking who answers (unless a root certificate is at hand, when it is
//! `verify-ca`), `verify-ca` checks the chain, `verify-full` also the host
//! name; client certificates from `sslcert` / `sslkey`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text first; TLS if the server insists.
    Allow,
    /// TLS if the server offers it, else plain text (libpq's default).
    #[default]
    Prefer,
    /// TLS, not checking the server's certificate unless a root
    /// certificate is given or in `~/.postgresql/root.crt`.
    Require,
    /// TLS, the server's certificate signed by a trusted root.
    VerifyCa,
    /// TLS, the certificate trusted and naming the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses a value of `sslmode` / `PGSSLMODE`.
    pub fn parse(text: &str) -> Result<SslMode> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => bail!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
        })
    }
}

/// The TLS settings of a connection, from its URL, `PG*` variables and
/// libpq's default files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// sslmode.
    pub mode: SslMode,
    /// sslrootcert: a PEM file, or `system` for the platform's roots.
    pub root_cert: Option<String>,
    /// sslcert: the client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// sslkey: its private key (PEM).
    pub key: Option<PathBuf>,
}

/// What is checked of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// libpq's default files under `~/.postgresql/`.
fn default_file(name: &str) -> Option<PathBuf> {
    let path = dirs::home_dir()?.join(".postgresql").join(name);
    path.is_file().then_some(path)
}

impl Tls {
    /// The rustls configuration for these settings.
    pub fn client_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(ring::default_provider());
        let root_cert = self
            .root_cert
            .clone()
            .or_else(|| default_file("root.crt").map(|p| p.display().to_string()));
        let check = match self.mode {
            SslMode::VerifyFull => Check::ChainAndName,
            SslMode::VerifyCa => Check::Chain,
            // As libpq: with a root certificate at hand, require verifies.
            SslMode::Require if root_cert.is_some() => Check::Chain,
            _ => Check::Nothing,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if check == Check::Nothing {
            Arc::new(Unchecked(provider.clone()))
        } else {
            let Some(root_cert) = root_cert else {
                bail!(
                    "sslmode={} needs a root certificate to check the server's against, and \
                     ~/.postgresql/root.crt does not exist: give sslrootcert=FILE (or \
                     sslrootcert=system for the platform's roots), or use sslmode=require",
                    if check == Check::Chain {
                        "verify-ca"
                    } else {
                        "verify-full"
                    }
                );
            };
            let roots = Arc::new(roots(&root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .context("building the certificate verifier")?;
            match check {
                Check::Chain => Arc::new(ChainOnly(webpki)),
                _ => webpki,
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let cert = self.cert.clone().or_else(|| default_file("postgresql.crt"));
        let key = self.key.clone().or_else(|| default_file("postgresql.key"));
        Ok(match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(&cert)?;
                check_key_permissions(&key)?;
                let key = PrivateKeyDer::from_pem_file(&key)
                    .with_context(|| format!("reading the private key {}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("the client certificate and key do not match")?
            }
            (Some(cert), None) => bail!(
                "sslcert={} is given but no sslkey (nor ~/.postgresql/postgresql.key)",
                cert.display()
            ),
            _ => builder.with_no_client_auth(),
        })
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn roots(root_cert: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if root_cert == "system" {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            bail!("sslrootcert=system: no trusted root certificates found on this machine");
        }
    } else {
        for cert in certificates(Path::new(root_cert))? {
            roots
                .add(cert)
                .with_context(|| format!("a certificate in {root_cert} is not usable as a root"))?;
        }
    }
    Ok(roots)
}

/// As libpq: a private key others can read is refused.
fn check_key_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the private key {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "private key file {} has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
    }
    Ok(())
}

/// sslmode=require (and prefer, allow): encryption without checking the
/// certificate, as libpq does; the handshake's signatures are still checked.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
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

/// sslmode=verify-ca: the chain must lead to a trusted root; the name in
/// the certificate may differ from the host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the name only once the chain is valid.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

//! TLS and mTLS for the HTTP and gRPC listeners (rustls, ring only): reads
//! and checks `[tls]`'s files and builds one rustls configuration per
//! listener (ALPN `h2` and `http/1.1` for HTTP, `h2` for gRPC), which
//! `reload.rs` swaps when the files change and `connection.rs` hands to
//! each new connection's handshake.

mod connection;
mod reload;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use self::connection::{Acceptor, TlsConnection};
use self::reload::{Hangup, Reloader};
use crate::config::TlsSettings;

/// How often the certificate files are checked for changes unless told.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take unless told.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a certificate, key or CA file may hold: real ones are a few
/// KiB, and a path to `/dev/zero` must not eat the memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Required,
    Optional,
}

/// The oldest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinVersion {
    Tls12,
    Tls13,
}

/// `[tls]` resolved (`TlsSettings::resolve`): what the server loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The client CA and whether a certificate is required; `None`: no
    /// client certificate is asked for.
    pub client_ca: Option<(PathBuf, ClientAuth)>,
    pub min_version: MinVersion,
    pub reload_interval: Duration,
    pub handshake_timeout: Duration,
}

/// Why TLS cannot be set up: the key at fault and, for a file, its path.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A setting that does not hold, before any file is read.
    #[error("{0}")]
    Setting(String),
    #[error("{key}: cannot read `{}`: {error}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{key}: `{}` {reason}", path.display())]
    Invalid {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
}

fn invalid(key: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        key,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// TLS as the server runs it: the configuration each listener's next
/// handshake uses, swapped whole on reload.
pub struct Tls {
    options: TlsOptions,
    http: Arc<ArcSwap<ServerConfig>>,
    grpc: Arc<ArcSwap<ServerConfig>>,
    /// The digest of the files serving.
    applied: u64,
    /// SIGHUP, listened for from `load` on, until the reload task takes it.
    hangup: Option<Hangup>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks `[tls]`'s files; `None` when TLS is off. Every
    /// error names the setting and the file. Within a tokio runtime, SIGHUP
    /// is listened for from here on, so one sent as soon as the server says
    /// it is ready is not missed.
    pub fn load(settings: &TlsSettings) -> Result<Option<Tls>, TlsError> {
        let Some(options) = settings.resolve().map_err(TlsError::Setting)? else {
            return Ok(None);
        };
        let files = Files::read(&options)?;
        let configs = build(&options, &files)?;
        Ok(Some(Tls {
            applied: files.digest(),
            http: Arc::new(ArcSwap::new(configs.http)),
            grpc: Arc::new(ArcSwap::new(configs.grpc)),
            options,
            hangup: Some(Hangup::new()),
        }))
    }

    /// What the listeners ask of clients: `tls`, `mtls` (a certificate
    /// required) or `mtls-optional`.
    pub fn mode(&self) -> &'static str {
        match self.options.client_ca {
            None => "tls",
            Some((_, ClientAuth::Required)) => "mtls",
            Some((_, ClientAuth::Optional)) => "mtls-optional",
        }
    }

    /// What the HTTP listener wraps its connections in.
    pub fn http_acceptor(&self) -> Acceptor {
        Acceptor {
            config: Arc::clone(&self.http),
            timeout: self.options.handshake_timeout,
            listener: "http",
        }
    }

    /// What the gRPC listener wraps its connections in.
    pub fn grpc_acceptor(&self) -> Acceptor {
        Acceptor {
            config: Arc::clone(&self.grpc),
            timeout: self.options.handshake_timeout,
            listener: "grpc",
        }
    }

    /// Starts checking the files every `tls.reload_interval` (and on
    /// SIGHUP, for the first task started) until `stop` changes. Call it
    /// within a tokio runtime, once metrics are installed (the reload
    /// counters are registered here).
    pub fn spawn_reload(
        &mut self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        for result in ["ok", "error"] {
            metrics::counter!("reaper_tls_reloads_total", "result" => result).increment(0);
        }
        let reloader = Reloader {
            options: self.options.clone(),
            http: Arc::clone(&self.http),
            grpc: Arc::clone(&self.grpc),
            applied: self.applied,
            pending: None,
            failed: None,
            hangup: self.hangup.take().unwrap_or_else(Hangup::none),
        };
        tokio::spawn(reloader.run(stop))
    }
}

/// The bytes of the files, as read.
struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Files {
    fn read(options: &TlsOptions) -> Result<Files, TlsError> {
        Ok(Files {
            cert: read_file("tls.cert", &options.cert)?,
            key: read_file("tls.key", &options.key)?,
            client_ca: match &options.client_ca {
                Some((path, _)) => Some(read_file("tls.client_ca", path)?),
                None => None,
            },
        })
    }

    /// What tells one version of the files from another (the key's bytes
    /// are not kept beside the configuration that holds it).
    fn digest(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        (0u8, &self.cert, &self.key, &self.client_ca).hash(&mut hasher);
        hasher.finish()
    }
}

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read = |error| TlsError::Read {
        key,
        path: path.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(invalid(key, path, "is larger than 1 MiB"));
    }
    Ok(bytes)
}

/// The two listeners' configurations, built from one set of files.
struct Configs {
    http: Arc<ServerConfig>,
    grpc: Arc<ServerConfig>,
}

fn build(options: &TlsOptions, files: &Files) -> Result<Configs, TlsError> {
    // Explicitly ring: the process-wide default provider is never relied
    // on (another crate could install a different one).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("tls.cert", &options.cert, &files.cert)?;
    let key = private_key(&options.key, &files.key)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match options.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Setting(format!("tls.min_version: {e}")))?;
    let builder = match (&options.client_ca, &files.client_ca) {
        (Some((path, auth)), Some(bytes)) => {
            let mut roots = RootCertStore::empty();
            for (n, ca) in certificates("tls.client_ca", path, bytes)?
                .into_iter()
                .enumerate()
            {
                roots.add(ca).map_err(|e| {
                    invalid("tls.client_ca", path, format!("certificate {}: {e}", n + 1))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| invalid("tls.client_ca", path, e.to_string()))?,
            )
        }
        _ => builder.with_no_client_auth(),
    };
    let mut http = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => invalid(
            "tls.key",
            &options.key,
            format!(
                "is not the private key of the certificate in `{}`",
                options.cert.display()
            ),
        ),
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => invalid(
            "tls.cert",
            &options.cert,
            format!("does not start with a valid certificate: {e}"),
        ),
        other => invalid("tls.key", &options.key, format!("cannot be used: {other}")),
    })?;
    let mut grpc = http.clone();
    http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Configs {
        http: Arc::new(http),
        grpc: Arc::new(grpc),
    })
}

fn certificates(
    key: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(key, path, format!("is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(
            key,
            path,
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
        ));
    }
    Ok(chain)
}

fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => invalid(
            "tls.key",
            path,
            "holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, PKCS#1 or SEC1)",
        ),
        other => invalid("tls.key", path, format!("is not valid PEM: {other}")),
    })
}

//! The `[tls]` section: certificates for the HTTP and gRPC listeners, and
//! the client CA that turns TLS into mTLS. File-only (no environment
//! variables or flags): paths and policies belong in reviewed files. These
//! are the settings as written and their checks that need no file; the
//! server reads the files (and reloads them) in `tls.rs`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::tls::{
    ClientAuth, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_RELOAD_INTERVAL, MinVersion, TlsOptions,
};

/// `[tls]`; TLS is off while `cert` is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: Option<PathBuf>,
    /// The private key of the leaf certificate (PEM: PKCS#8, PKCS#1 or
    /// SEC1).
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) client certificates must chain to; setting it
    /// turns on mTLS.
    pub client_ca: Option<PathBuf>,
    /// `required` (the default with `client_ca`): a client without a valid
    /// certificate is refused; `optional`: a client may present none, but
    /// one it presents must be valid.
    pub client_auth: Option<String>,
    /// The oldest TLS version accepted: `1.2` (the default) or `1.3`.
    pub min_version: Option<String>,
    /// How often the files are checked for changes, in policy syntax:
    /// `10s`.
    pub reload_interval: Option<String>,
    /// How long a client has to complete its handshake, in policy syntax:
    /// `10s`.
    pub handshake_timeout: Option<String>,
}

impl TlsSettings {
    /// The options, `None` when TLS is off; the error names the key at
    /// fault (`tls.client_auth: …`).
    pub fn resolve(&self) -> Result<Option<TlsOptions>, String> {
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            (Some(_), None) => return Err("tls.key: required with `tls.cert`".to_owned()),
            (None, Some(_)) => return Err("tls.cert: required with `tls.key`".to_owned()),
            (None, None) if *self == TlsSettings::default() => return Ok(None),
            (None, None) => {
                return Err(
                    "tls.cert: required with any other `[tls]` setting (TLS is off without a certificate)"
                        .to_owned(),
                );
            }
        };
        let client_auth = match self.client_auth.as_deref() {
            None | Some("required") => ClientAuth::Required,
            Some("optional") => ClientAuth::Optional,
            Some(other) => {
                return Err(format!(
                    "tls.client_auth: `{other}` is not `required` or `optional`"
                ));
            }
        };
        let client_ca = match &self.client_ca {
            Some(ca) => Some((ca.clone(), client_auth)),
            None if self.client_auth.is_some() => {
                return Err(
                    "tls.client_auth: needs `tls.client_ca`, the CA client certificates are checked against"
                        .to_owned(),
                );
            }
            None => None,
        };
        let min_version = match self.min_version.as_deref() {
            None | Some("1.2") => MinVersion::Tls12,
            Some("1.3") => MinVersion::Tls13,
            Some(other) => {
                return Err(format!(
                    "tls.min_version: `{other}` is not a TLS version Reaper serves (`1.2`, `1.3`)"
                ));
            }
        };
        let duration = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => super::parse_positive_duration(text).map_err(|m| format!("{key}: {m}")),
            None => Ok(default),
        };
        Ok(Some(TlsOptions {
            cert,
            key,
            client_ca,
            min_version,
            reload_interval: duration(
                "tls.reload_interval",
                &self.reload_interval,
                DEFAULT_RELOAD_INTERVAL,
            )?,
            handshake_timeout: duration(
                "tls.handshake_timeout",
                &self.handshake_timeout,
                DEFAULT_HANDSHAKE_TIMEOUT,
            )?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> TlsSettings {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn empty_section_is_plain_text() {
        assert_eq!(TlsSettings::default().resolve(), Ok(None));
    }

    #[test]
    fn defaults_fill_in() {
        let options = settings("cert = \"c.pem\"\nkey = \"k.pem\"")
            .resolve()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("TLS is on"));
        assert_eq!(options.client_ca, None);
        assert_eq!(options.min_version, MinVersion::Tls12);
        assert_eq!(options.reload_interval, DEFAULT_RELOAD_INTERVAL);
        assert_eq!(options.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        let mtls = settings(
            "cert = \"c\"\nkey = \"k\"\nclient_ca = \"ca\"\nmin_version = \"1.3\"\nreload_interval = \"100ms\"",
        )
        .resolve()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("TLS is on"));
        assert_eq!(
            mtls.client_ca,
            Some((PathBuf::from("ca"), ClientAuth::Required))
        );
        assert_eq!(mtls.min_version, MinVersion::Tls13);
        assert_eq!(mtls.reload_interval, Duration::from_millis(100));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases = [
            ("cert = \"c\"", "tls.key: "),
            ("key = \"k\"", "tls.cert: "),
            ("client_ca = \"ca\"", "tls.cert: "),
            (
                "cert = \"c\"\nkey = \"k\"\nclient_auth = \"optional\"",
                "tls.client_auth: ",
            ),
            (
                "cert = \"c\"\nkey = \"k\"\nclient_ca = \"ca\"\nclient_auth = \"maybe\"",
                "tls.client_auth: `maybe`",
            ),
            (
                "cert = \"c\"\nkey = \"k\"\nmin_version = \"1.1\"",
                "tls.min_version: `1.1`",
            ),
            (
                "cert = \"c\"\nkey = \"k\"\nreload_interval = \"0s\"",
                "tls.reload_interval: ",
            ),
            (
                "cert = \"c\"\nkey = \"k\"\nhandshake_timeout = \"soon\"",
                "tls.handshake_timeout: ",
            ),
        ];
        for (text, expected) in cases {
            let error = settings(text).resolve().err().unwrap_or_default();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }
}

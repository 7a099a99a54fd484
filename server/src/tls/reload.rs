//! Certificate reload: every `tls.reload_interval` the files are read and
//! compared with what is serving (by a digest of their bytes, not their
//! times: a Kubernetes secret swaps a symlink and keeps old times). A
//! change is applied once the files have read the same twice in a row, so
//! a certificate written before its key is not caught half-replaced;
//! SIGHUP applies what the files hold at once. A change that does not load
//! keeps the previous certificates, is logged and counted
//! (`reaper_tls_reloads_total{result="error"}`), and is not tried again
//! until the files change again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::ServerConfig;

use super::{Files, TlsOptions, build};

/// The reload task's state.
pub(super) struct Reloader {
    pub(super) options: TlsOptions,
    pub(super) http: Arc<ArcSwap<ServerConfig>>,
    pub(super) grpc: Arc<ArcSwap<ServerConfig>>,
    /// The digest of the files serving.
    pub(super) applied: u64,
    /// A change seen once, applied if the next check sees it again.
    pub(super) pending: Option<u64>,
    /// A change that did not load, not tried again.
    pub(super) failed: Option<u64>,
    pub(super) hangup: Hangup,
}

impl Reloader {
    pub(super) async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let interval = self.options.reload_interval;
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = stop.changed() => return,
                _ = every.tick() => false,
                () = self.hangup.recv() => true,
            };
            self.check(forced).await;
        }
    }

    async fn check(&mut self, forced: bool) {
        let options = self.options.clone();
        let Ok((digest, read)) = tokio::task::spawn_blocking(move || {
            let read = Files::read(&options);
            let digest = match &read {
                Ok(files) => files.digest(),
                Err(error) => {
                    let mut hasher = DefaultHasher::new();
                    (1u8, error.to_string()).hash(&mut hasher);
                    hasher.finish()
                }
            };
            (digest, read)
        })
        .await
        else {
            return;
        };
        if digest == self.applied {
            // Back to what serves (a broken file restored, say).
            self.pending = None;
            self.failed = None;
            return;
        }
        if !forced {
            if self.failed == Some(digest) {
                return;
            }
            if self.pending != Some(digest) {
                self.pending = Some(digest);
                return;
            }
        }
        self.pending = None;
        match read.and_then(|files| build(&self.options, &files)) {
            Ok(configs) => {
                self.http.store(configs.http);
                self.grpc.store(configs.grpc);
                self.applied = digest;
                self.failed = None;
                metrics::counter!("reaper_tls_reloads_total", "result" => "ok").increment(1);
                tracing::info!(
                    cert = %self.options.cert.display(),
                    "TLS certificates reloaded; new connections use them"
                );
            }
            Err(error) => {
                self.failed = Some(digest);
                metrics::counter!("reaper_tls_reloads_total", "result" => "error").increment(1);
                tracing::error!(
                    %error,
                    "TLS certificates not reloaded; the previous ones stay in use"
                );
            }
        }
    }
}

/// SIGHUP, which reloads the certificates as it reloads the policy (each
/// listener of the signal is told).
pub(super) struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    /// Listens from now on; not at all outside a tokio runtime (where
    /// tokio's `signal` would panic).
    pub(super) fn new() -> Hangup {
        #[cfg(unix)]
        {
            let signal = tokio::runtime::Handle::try_current().ok().and_then(|_| {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
            });
            Hangup { signal }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    /// Never resolves.
    pub(super) fn none() -> Hangup {
        Hangup {
            #[cfg(unix)]
            signal: None,
        }
    }

    /// Resolves at the next SIGHUP; never without one.
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None;
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests fail by panicking"
    )]

    use std::path::Path;

    use super::*;
    use crate::config::TlsSettings;
    use crate::tls::Tls;

    fn write_pair(dir: &Path, name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn reloader(dir: &Path) -> Reloader {
        let settings = TlsSettings {
            cert: Some(dir.join("cert.pem")),
            key: Some(dir.join("key.pem")),
            ..TlsSettings::default()
        };
        let tls = Tls::load(&settings).unwrap().unwrap();
        Reloader {
            options: tls.options.clone(),
            http: Arc::clone(&tls.http),
            grpc: Arc::clone(&tls.grpc),
            applied: tls.applied,
            pending: None,
            failed: None,
            hangup: Hangup::none(),
        }
    }

    fn serving(reloader: &Reloader) -> Arc<ServerConfig> {
        reloader.http.load_full()
    }

    #[tokio::test]
    async fn a_change_applies_once_it_reads_the_same_twice_and_a_broken_one_is_not_retried() {
        let dir = std::env::temp_dir().join(format!("reaper-tls-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_pair(&dir, "first");
        let mut reloader = reloader(&dir);
        let first = serving(&reloader);

        // Nothing changed: nothing happens.
        reloader.check(false).await;
        assert!(Arc::ptr_eq(&first, &serving(&reloader)));

        // A change waits for a second look, then applies to both listeners.
        let grpc_before = reloader.grpc.load_full();
        write_pair(&dir, "second");
        reloader.check(false).await;
        assert!(Arc::ptr_eq(&first, &serving(&reloader)));
        reloader.check(false).await;
        let second = serving(&reloader);
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&grpc_before, &reloader.grpc.load_full()));
        assert_eq!(
            second.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(reloader.grpc.load().alpn_protocols, [b"h2".to_vec()]);

        // A broken change keeps what serves and is not tried again.
        std::fs::write(dir.join("cert.pem"), "broken").unwrap();
        reloader.check(false).await;
        reloader.check(false).await;
        assert!(reloader.failed.is_some());
        assert!(Arc::ptr_eq(&second, &serving(&reloader)));
        reloader.check(false).await;
        assert!(reloader.pending.is_none());

        // A forced check (SIGHUP) applies a good change at once.
        write_pair(&dir, "third");
        reloader.check(true).await;
        assert!(!Arc::ptr_eq(&second, &serving(&reloader)));
        assert!(reloader.failed.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

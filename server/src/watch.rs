//! What triggers a reload besides the admin endpoint: changes to the
//! policy and entity files (watched with `notify`, debounced so that an
//! editor's burst of writes makes one reload) and SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::state::Shared;

/// Watches `shared`'s files until `stop` changes. Returns an error if the
/// watch cannot be set up (the server then runs without it, and says so).
pub fn spawn_file_watch(
    shared: Arc<Shared>,
    debounce: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, notify::Error> {
    let targets: Vec<PathBuf> = shared
        .watched()
        .into_iter()
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let filter = targets.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| concerns(&filter, p)) {
            // A full channel already holds a wake-up.
            let _ = tx.try_send(());
        }
    })?;
    for target in &targets {
        if target.is_dir() {
            watcher.watch(target, RecursiveMode::Recursive)?;
        } else {
            // Editors replace files by renaming over them: watch the
            // directory, so the new file is seen too.
            let dir = target.parent().unwrap_or(Path::new("."));
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                got = rx.recv() => {
                    if got.is_none() {
                        return;
                    }
                    tokio::time::sleep(debounce).await;
                    while rx.try_recv().is_ok() {}
                    let _ = shared.reload("file-watch").await;
                }
            }
        }
    }))
}

fn concerns(targets: &[PathBuf], changed: &Path) -> bool {
    let changed = std::fs::canonicalize(changed).unwrap_or_else(|_| changed.to_path_buf());
    targets
        .iter()
        .any(|t| changed == *t || changed.starts_with(t))
        || targets
            .iter()
            .any(|t| changed.parent() == t.parent() && changed.file_name() == t.file_name())
}

/// SIGHUP, listened for from the moment the server starts (before its
/// first policy loads: the signal's default action would end the process).
#[cfg(unix)]
pub type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub type Hangup = ();

/// Starts listening for SIGHUP.
#[cfg(unix)]
pub fn hangup() -> std::io::Result<Hangup> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
pub fn hangup() -> std::io::Result<Hangup> {
    Ok(())
}

/// Reloads on each SIGHUP until `stop` changes.
#[cfg(unix)]
pub fn spawn_sighup(
    shared: Arc<Shared>,
    mut hangup: Hangup,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                got = hangup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let _ = shared.reload("sighup").await;
                }
            }
        }
    })
}

#[cfg(not(unix))]
pub fn spawn_sighup(
    _: Arc<Shared>,
    _: Hangup,
    _: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}

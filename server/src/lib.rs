//! `reaper serve`: the sidecar daemon. It answers authorization, rate-limit
//! and store requests over HTTP and gRPC (its own API, and Envoy's
//! rate-limit and external authorization services) from one policy, holds
//! entity data, reloads policies atomically, and can be watched (status,
//! health, Prometheus metrics, structured logs).
//!
//! ```text
//! HTTP ──▶ http/ (axum router) ─┐
//!                               ├─▶ ops/ ──▶ Shared: World (arc-swap) ──▶ Engine (reaper-runtime)
//! gRPC ──▶ grpc/ (tonic)  ──────┘                │                       └─▶ HeldEntities
//!                                                └─▶ Backend (counters + TTL store; memory by default)
//! watch.rs (files, SIGHUP) and /v1/admin/reload ──▶ Shared::reload ──▶ new World, swapped whole
//! ```
//!
//! The entry is [`run`]: it takes already-bound listeners (tests bind
//! `127.0.0.1:0`), the configuration and a shutdown future, as
//! mini-redis's server does. The CLI only parses flags and calls it.

pub mod auth;
pub mod backend;
pub mod clock;
pub mod config;
pub mod entities;
pub mod grpc;
pub mod http;
mod ids;
mod listener;
pub mod metrics;
pub mod observe;
pub mod ops;
pub mod state;
pub mod tls;
mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backend::Backend;
use backend::memory::MemoryBackend;
use clock::Clock;
pub use config::{
    AuditSettings, AuthSettings, DecisionLogSettings, EnvoyOptions, GrpcLimits, Limits, LogFormat,
    Resolved, Settings, TlsSettings, TracingSettings,
};
pub use state::{LoadError, PolicyLoader, Shared};

/// The sockets the server answers on, bound by the caller.
#[derive(Debug)]
pub struct Listeners {
    pub http: tokio::net::TcpListener,
    /// No gRPC when `None`.
    pub grpc: Option<tokio::net::TcpListener>,
}

/// What the server runs with.
pub struct ServerConfig {
    pub loader: Arc<dyn PolicyLoader>,
    pub entities: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub limits: Limits,
    pub grpc: GrpcLimits,
    pub envoy: EnvoyOptions,
    /// Watch the policy and entity files.
    pub watch: bool,
    pub debounce: Duration,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain_timeout: Duration,
    /// Where counters and the store live; the in-memory backend if `None`.
    pub backend: Option<Arc<dyn Backend>>,
    /// TLS (and mTLS) for both listeners.
    pub tls: TlsSettings,
    /// JWTs the APIs require, and the API's own rate limit.
    pub auth: AuthSettings,
    pub decision_log: DecisionLogSettings,
    pub audit: AuditSettings,
}

impl ServerConfig {
    /// What the audit log records of the configuration at start: every
    /// setting but secrets (the admin token is only said to be set).
    fn audited(&self) -> serde_json::Value {
        serde_json::json!({
            "entities": self.entities,
            "admin_token": self.admin_token.is_some(),
            "limits": format!("{:?}", self.limits),
            "grpc": format!("{:?}", self.grpc),
            "envoy": format!("{:?}", self.envoy),
            "watch": self.watch,
            "backend": self.backend.as_ref().map(|b| b.kind()),
            "tls": format!("{:?}", self.tls),
            "auth": format!("{:?}", self.auth),
            "decision_log": format!("{:?}", self.decision_log),
            "audit": format!("{:?}", self.audit),
        })
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("entities", &self.entities)
            .field("limits", &self.limits)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start: {0}")]
    Load(#[from] LoadError),
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Grpc(#[from] grpc::GrpcError),
}

/// Builds the shared state: loads the policy and the entity data (the
/// error says why the server cannot start).
pub async fn start(config: &ServerConfig) -> Result<Arc<Shared>, LoadError> {
    let backend = config
        .backend
        .clone()
        .unwrap_or_else(|| Arc::new(MemoryBackend::new()));
    let loader = Arc::clone(&config.loader);
    let clock = Clock::system();
    let audit = observe::AuditLog::open(&config.audit).map_err(LoadError::Setting)?;
    audit.record(clock.now_ms(), "start", config.audited());
    let decisions = observe::DecisionLog::start(&config.decision_log)
        .map_err(|e| LoadError::Setting(e.to_string()))?;
    let options = state::Options {
        entities_file: config.entities.clone(),
        admin_token: config.admin_token.clone(),
        limits: config.limits,
        envoy: config.envoy,
        clock,
        decisions,
        audit,
    };
    let metrics = metrics::Metrics::install();
    tokio::task::spawn_blocking(move || Shared::new(loader, backend, metrics, options))
        .await
        .map_err(|e| LoadError::Internal(format!("the loading task failed: {e}")))?
        // `[auth]`: keys read, mapping and API domain checked against the
        // policy just loaded.
        .and_then(|shared| auth::attach(shared, &config.auth))
        .map(Arc::new)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish for at most `drain_timeout`, and returns.
pub async fn run(
    listeners: Listeners,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let hangup = watch::hangup()?;
    // `[tls]`: the files read and checked before the policy loads.
    let tls = tls::Tls::load(&config.tls).map_err(|e| LoadError::Setting(e.to_string()))?;
    let shared = start(&config).await?;
    let world = shared.world();
    tracing::info!(
        policy = %world.engine.hash(),
        package = world.engine.package().unwrap_or(""),
        rules = world.engine.bundle().rules.len(),
        entities = world.held.len(),
        backend = shared.backend.kind(),
        http = %listeners.http.local_addr()?,
        grpc = %listeners.grpc.as_ref().map(|l| l.local_addr()).transpose()?.map_or("off".to_owned(), |a| a.to_string()),
        tls = tls.as_ref().map_or("off", tls::Tls::mode),
        "reaper serve is ready"
    );
    drop(world);
    serve(listeners, &config, shared, hangup, tls, shutdown).await
}

/// Runs the listeners and background tasks of an already started server.
pub async fn serve(
    listeners: Listeners,
    config: &ServerConfig,
    shared: Arc<Shared>,
    hangup: watch::Hangup,
    mut tls: Option<tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut tasks = vec![tokio::spawn(
        Arc::clone(&shared.backend).maintain(shared.clock, stop.clone()),
    )];
    tasks.push(tokio::spawn({
        let metrics = shared.metrics.clone();
        let mut stop = stop.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = every.tick() => metrics.upkeep(),
                }
            }
        }
    }));
    if config.watch {
        match watch::spawn_file_watch(Arc::clone(&shared), config.debounce, stop.clone()) {
            Ok(task) => tasks.push(task),
            Err(error) => {
                tracing::warn!(%error, "cannot watch the policy files; reload with SIGHUP or the admin endpoint")
            }
        }
    }
    tasks.push(watch::spawn_sighup(
        Arc::clone(&shared),
        hangup,
        stop.clone(),
    ));
    if let Some(tls) = &mut tls {
        tasks.push(tls.spawn_reload(stop.clone()));
    }

    let app = http::router(Arc::clone(&shared));
    let listener = listener::CappedListener::new(
        listeners.http,
        config.limits.max_connections,
        config.limits.idle_timeout,
    );
    let grpc = match listeners.grpc {
        Some(listener) => Some(
            grpc::routes(Arc::clone(&shared), config.grpc)
                .await
                .map(|r| (listener, r))?,
        ),
        None => None,
    };
    // One shutdown for both listeners: `stopping` fires when `shutdown`
    // resolves.
    let (fired_tx, fired) = tokio::sync::oneshot::channel::<()>();
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; draining in-flight requests");
        let _ = stopping_tx.send(true);
        let _ = fired_tx.send(());
    };
    let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let grpc_server = grpc.map(|(listener, (router, health))| {
        tokio::spawn(grpc::serve(
            listener,
            router,
            health,
            tls.as_ref().map(tls::Tls::grpc_acceptor),
            stopped(stopping.clone()),
        ))
    });
    let grpc_abort = grpc_server
        .as_ref()
        .map(tokio::task::JoinHandle::abort_handle);
    let signal = tokio::spawn(graceful);
    let http_tls = tls.as_ref().map(tls::Tls::http_acceptor);
    let server = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<listener::PeerAddr>();
        // Plain text serves the capped TCP streams as they are.
        let http = match http_tls {
            None => futures_util::future::Either::Left(std::future::IntoFuture::into_future(
                axum::serve(listener, app).with_graceful_shutdown(stopped(stopping)),
            )),
            Some(acceptor) => {
                futures_util::future::Either::Right(std::future::IntoFuture::into_future(
                    axum::serve(listener::TlsCappedListener::new(listener, acceptor), app)
                        .with_graceful_shutdown(stopped(stopping)),
                ))
            }
        };
        let grpc = async move {
            match grpc_server {
                Some(task) => match task.await {
                    Ok(result) => result.map_err(|e| std::io::Error::other(e.to_string())),
                    Err(join) => Err(std::io::Error::other(join.to_string())),
                },
                None => Ok(()),
            }
        };
        // Both end at shutdown; one failing stops the other (a server that
        // lost a listener must not go on half-serving).
        tokio::pin!(http, grpc);
        tokio::select! {
            result = &mut http => {
                result?;
                grpc.await
            }
            result = &mut grpc => {
                result?;
                http.await
            }
        }
    });
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        _ = fired => match tokio::time::timeout(config.drain_timeout, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(timeout = ?config.drain_timeout, "in-flight requests did not finish in time; closing them");
                server.abort();
                if let Some(grpc) = &grpc_abort {
                    grpc.abort();
                }
                Ok(Ok(()))
            }
        },
    };
    signal.abort();
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    // Every decision made is written before the process goes.
    let decisions = shared.decisions.clone();
    let _ = tokio::task::spawn_blocking(move || decisions.flush(Duration::from_secs(5))).await;
    tracing::info!("stopped");
    match result {
        Ok(io) => io.map_err(ServeError::Io),
        Err(join) => Err(ServeError::Io(std::io::Error::other(join.to_string()))),
    }
}

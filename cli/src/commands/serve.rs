//! `reaper serve [PATH|BUNDLE]`: parses the flags, layers them over the
//! environment and the config file, sets up logging and the tokio runtime,
//! binds the listener and hands over to `reaper_server::run`. Compiling a
//! policy (and rendering its diagnostics) is the one thing the server asks
//! back of the CLI, through [`PolicyFiles`].

use reaper_server::TracingSettings;
use reaper_server::observe::tracing::Tracing;
use std::path::PathBuf;
use std::sync::Arc;

use reaper_compiler::Keep;
use reaper_server::backend::settings::BackendKind;
use reaper_server::config::{
    BackendSettings, ConfigError, ExtAuthzSettings, GrpcSettings, HttpSettings, MeshSettings,
    RateLimitSettings, RedisSettings,
};
use reaper_server::{LogFormat, PolicyLoader, ServerConfig, Settings};

use crate::Outcome;
use crate::load::LoadError;
use crate::pipeline;
use crate::render::{self, Batch, Colors, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A policy file, a package directory, or a compiled bundle (or
    /// `policy` in the config file, or REAPER_POLICY).
    pub path: Option<PathBuf>,
    /// A TOML configuration file (or REAPER_CONFIG).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The HTTP address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// The gRPC address to listen on, or `off` [default: 127.0.0.1:8081].
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<String>,
    /// A JSON array of entities the server holds.
    #[arg(long, value_name = "FILE")]
    pub entities: Option<PathBuf>,
    /// ext_authz evaluates and logs, but allows every request: how a new
    /// policy is rolled out safely.
    #[arg(long)]
    pub dry_run: bool,
    /// Envoy's rate-limit answers carry `x-ratelimit-*` response headers.
    #[arg(long)]
    pub ratelimit_headers: bool,
    /// A file holding the admin API's token (the admin API is off without).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// How to write logs (to stderr).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Threads answering requests [default: one per core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Do not watch the policy and entity files (reload with SIGHUP or the
    /// admin endpoint).
    #[arg(long)]
    pub no_watch: bool,
    /// Where counters and the store live: `memory`, `redis` or `mesh`
    /// [default: memory].
    #[arg(long, value_name = "KIND")]
    pub backend: Option<String>,
    /// The Redis URL (`redis://127.0.0.1:6379`); a cluster's seed nodes
    /// separated by commas, with --redis-cluster.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// --redis-url names a Redis Cluster.
    #[arg(long)]
    pub redis_cluster: bool,
    /// Where this mesh node gossips (UDP) and serves its peers (TCP)
    /// [default: 127.0.0.1:7946].
    #[arg(long, value_name = "ADDR")]
    pub mesh_addr: Option<String>,
    /// This mesh node's unique name [default: its address].
    #[arg(long, value_name = "NAME")]
    pub node_id: Option<String>,
    /// Mesh peers to join, separated by commas.
    #[arg(long, value_name = "ADDRS")]
    pub peers: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

/// Reads the policy at `path`: a bundle as is, or a package compiled
/// here, its errors rendered as short lines.
#[derive(Debug)]
struct PolicyFiles {
    path: PathBuf,
}

impl PolicyLoader for PolicyFiles {
    fn load(&self) -> Result<Vec<u8>, String> {
        if pipeline::is_bundle(&self.path) {
            return std::fs::read(&self.path)
                .map_err(|e| LoadError::from_io(&self.path, &e).to_string());
        }
        let mut checked =
            pipeline::check_one(&self.path, Keep::Bytecode).map_err(|e| e.to_string())?;
        match pipeline::bundle(&mut checked) {
            Ok(bundle) => Ok(reaper_lang::bundle::encode(&bundle)),
            Err(diagnostics) => {
                let errors: Vec<_> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
                let batch = Batch {
                    sources: &checked.package.sources,
                    diagnostics: &errors,
                };
                Err(render::render(Format::Short, &[batch], Colors::Off)
                    .trim_end()
                    .to_owned())
            }
        }
    }

    fn watched(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

pub fn run(args: &Args, _colors: Colors) -> Result<Outcome, LoadError> {
    let settings = settings(args).map_err(|e| LoadError {
        path: "configuration".into(),
        reason: e.to_string(),
    })?;
    let resolved = settings.resolve().map_err(|e| LoadError {
        path: "configuration".into(),
        reason: e.to_string(),
    })?;
    let admin_token = match &resolved.admin_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| LoadError::from_io(path, &e))?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(LoadError {
                    path: path.display().to_string(),
                    reason: "the admin token file is empty".into(),
                });
            }
            Some(token)
        }
        None => None,
    };
    let config = ServerConfig {
        loader: Arc::new(PolicyFiles {
            path: resolved.policy.clone(),
        }),
        entities: resolved.entities.clone(),
        admin_token,
        limits: resolved.limits,
        grpc: resolved.grpc,
        envoy: resolved.envoy,
        watch: resolved.watch,
        debounce: resolved.debounce,
        drain_timeout: resolved.drain_timeout,
        backend: None,
        tls: resolved.tls.clone(),
        auth: resolved.auth.clone(),
        decision_log: resolved.decision_log.clone(),
        audit: resolved.audit.clone(),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = resolved.threads {
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build().map_err(|e| LoadError {
        path: "runtime".into(),
        reason: e.to_string(),
    })?;
    // The OTLP exporter runs on the server's runtime.
    let tracing = {
        let _runtime = runtime.enter();
        init_logging(resolved.log_format, &resolved.tracing).map_err(|e| LoadError {
            path: "configuration".into(),
            reason: e.to_string(),
        })?
    };
    let addr = resolved.http_addr;
    let grpc_addr = resolved.grpc_addr;
    let backend = resolved.backend.clone();
    let served = runtime.block_on(async move {
        let shutdown = shutdown_signal();
        let bind = |addr: std::net::SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| LoadError {
                    path: addr.to_string(),
                    reason: format!("cannot listen: {e}"),
                })
        };
        let http = bind(addr).await?;
        let grpc = match grpc_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let mesh = match &backend.kind {
            BackendKind::Mesh(mesh) => Some(bind(mesh.addr).await?),
            _ => None,
        };
        let backend = reaper_server::backend::build(&backend, mesh).map_err(|e| LoadError {
            path: "backend".into(),
            reason: e.to_string(),
        })?;
        let config = ServerConfig {
            backend: Some(backend),
            ..config
        };
        let listeners = reaper_server::Listeners { http, grpc };
        match reaper_server::run(listeners, config, shutdown).await {
            Ok(()) => Ok(Outcome::Success),
            Err(reaper_server::ServeError::Load(error)) => {
                tracing::error!(%error, "cannot start");
                eprintln!("error: {error}");
                Ok(Outcome::Failure)
            }
            Err(error) => Err(LoadError {
                path: addr.to_string(),
                reason: error.to_string(),
            }),
        }
    });
    // The runtime's workers still run the exporter: the last spans go out.
    if let Some(tracing) = &tracing {
        tracing.shutdown();
    }
    served
}

/// Flags over `REAPER_*` over the config file (flags > env > file).
fn settings(args: &Args) -> Result<Settings, ConfigError> {
    let config_path = args.config.clone().or_else(|| {
        std::env::var_os("REAPER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let file = match &config_path {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                source_name: name.clone(),
                message: e.to_string(),
            })?;
            Settings::from_toml(&name, &text)?
        }
        None => Settings::default(),
    };
    let env = Settings::from_env(|name| std::env::var(name).ok())?;
    let flags = Settings {
        policy: args.path.clone(),
        entities: args.entities.clone(),
        admin_token_file: args.admin_token_file.clone(),
        threads: args.threads,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
        http: HttpSettings {
            addr: args.http.clone(),
            ..HttpSettings::default()
        },
        grpc: GrpcSettings {
            addr: args.grpc.clone(),
            ..GrpcSettings::default()
        },
        ext_authz: ExtAuthzSettings {
            dry_run: args.dry_run.then_some(true),
            deny_status: None,
        },
        ratelimit: RateLimitSettings {
            response_headers: args.ratelimit_headers.then_some(true),
        },
        reload: reaper_server::config::ReloadSettings {
            watch: args.no_watch.then_some(false),
            debounce: None,
        },
        backend: BackendSettings {
            kind: args.backend.clone(),
            redis: RedisSettings {
                url: args.redis_url.clone(),
                cluster: args.redis_cluster.then_some(true),
                ..RedisSettings::default()
            },
            mesh: MeshSettings {
                addr: args.mesh_addr.clone(),
                node_id: args.node_id.clone(),
                peers: args.peers.as_deref().map(|p| {
                    p.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                ..MeshSettings::default()
            },
            ..BackendSettings::default()
        },
        ..Settings::default()
    };
    Ok(file.overridden_by(env).overridden_by(flags))
}

/// Logs to stderr, filtered by REAPER_LOG (`info` by default; the syntax
/// of `RUST_LOG`), and, with `[tracing]`, exports request spans over OTLP
/// (the log filter does not apply to them, nor do log lines carry them).
fn init_logging(
    format: LogFormat,
    tracing: &TracingSettings,
) -> Result<Option<Tracing>, reaper_server::observe::tracing::TracingError> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("REAPER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal; log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let fmt = fmt
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            !meta.is_span()
        }));
    let registry = tracing_subscriber::registry().with(fmt);
    match Tracing::start(tracing)? {
        Some((tracing, otel)) => {
            let _ = registry.with(otel).try_init();
            Ok(Some(tracing))
        }
        None => {
            let _ = registry.try_init();
            Ok(None)
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when it is first polled, so a signal during the first
/// policy load ends the server cleanly once it has loaded instead of
/// killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match signals {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

//! Configuration of `reaper serve`: one set of settings read from three
//! layers — the TOML file, `REAPER_*` environment variables, command-line
//! flags — each overriding the one before, over built-in defaults. Every
//! value that does not parse is refused with the layer and the key that
//! gave it. The `[backend]` section's settings are in `config/backend.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

mod auth;
mod backend;
mod observe;
mod tls;

pub use auth::AuthSettings;
use backend::split_list;
pub use backend::{BackendSettings, DEFAULT_MESH, MeshSettings, RedisSettings};
pub use observe::{
    AuditSettings, DecisionLogSettings, FileSinkSettings, HttpSinkSettings, TracingSettings,
};
pub use tls::TlsSettings;

use crate::backend::settings::BackendConfig;

/// Where `reaper serve` listens for HTTP unless told otherwise.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Where `reaper serve` listens for gRPC unless told otherwise (`off`: not
/// at all).
pub const DEFAULT_GRPC: &str = "127.0.0.1:8081";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Invalid {
        /// The file, or `REAPER_X`, or `--flag`.
        source_name: String,
        message: String,
    },
    #[error("no policy to serve: give a path, `policy` in the config file or REAPER_POLICY")]
    NoPolicy,
}

/// One layer of settings; `None` leaves the value to the layer below.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A `.reaper` file, a package directory, or a bundle.
    pub policy: Option<PathBuf>,
    /// A JSON array of entities the server holds.
    pub entities: Option<PathBuf>,
    /// A file holding the admin API's bearer token.
    pub admin_token_file: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: Option<LogFormat>,
    /// Threads answering requests (the machine's cores by default). A
    /// sidecar sharing its cores with the application may take fewer.
    pub threads: Option<usize>,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub grpc: GrpcSettings,
    #[serde(default)]
    pub ext_authz: ExtAuthzSettings,
    #[serde(default)]
    pub ratelimit: RateLimitSettings,
    #[serde(default)]
    pub reload: ReloadSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
    #[serde(default)]
    pub backend: BackendSettings,
    #[serde(default)]
    pub tls: TlsSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub decision_log: DecisionLogSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub tracing: TracingSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// An address with a port, or `off`.
    pub addr: Option<String>,
    /// The largest request message, a size in policy syntax: `4MiB`.
    pub max_message: Option<String>,
    /// Calls answered at once over all connections; more are refused
    /// with RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: Option<u64>,
    /// A call not answered in this long ends with DEADLINE_EXCEEDED (a
    /// client's shorter `grpc-timeout` wins): `5s`.
    pub request_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtAuthzSettings {
    /// Evaluate and log, but allow every request.
    pub dry_run: Option<bool>,
    /// The HTTP status of a denied request: 403.
    pub deny_status: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Ask Envoy to add `x-ratelimit-limit`, `-remaining` and `-reset` to
    /// its responses.
    pub response_headers: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: Option<String>,
    /// A size in policy syntax: `1MiB`.
    pub max_body: Option<String>,
    /// A duration in policy syntax: `5s`.
    pub request_timeout: Option<String>,
    pub max_connections: Option<u64>,
    /// A connection that sends nothing for this long is closed (a
    /// half-sent request included): `60s`.
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadSettings {
    /// Watch the policy and entity files and reload when they change.
    pub watch: Option<bool>,
    /// How long after a change the reload happens, so that an editor's
    /// burst of writes makes one reload: `250ms`.
    pub debounce: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long in-flight requests may take to finish after a shutdown
    /// signal: `10s`.
    pub drain_timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not a log format (text, json)")),
        }
    }
}

/// Settings resolved to values, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub policy: PathBuf,
    pub entities: Option<PathBuf>,
    pub admin_token_file: Option<PathBuf>,
    pub log_format: LogFormat,
    /// `None`: one per core.
    pub threads: Option<usize>,
    pub http_addr: SocketAddr,
    /// `None`: no gRPC listener.
    pub grpc_addr: Option<SocketAddr>,
    pub limits: Limits,
    pub grpc: GrpcLimits,
    pub envoy: EnvoyOptions,
    pub watch: bool,
    pub debounce: Duration,
    pub drain_timeout: Duration,
    pub backend: BackendConfig,
    /// The file-only sections, checked when the server starts (they name
    /// files to read).
    pub tls: TlsSettings,
    pub auth: AuthSettings,
    pub decision_log: DecisionLogSettings,
    pub audit: AuditSettings,
    pub tracing: TracingSettings,
}

/// Bounds on what HTTP clients may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Bounds on what gRPC clients may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcLimits {
    pub max_message_bytes: usize,
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        GrpcLimits {
            max_message_bytes: 4 << 20,
            max_concurrent_requests: 10_000,
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// How the Envoy services answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvoyOptions {
    /// ext_authz evaluates and logs but allows.
    pub dry_run: bool,
    /// The HTTP status of an ext_authz denial.
    pub deny_status: u16,
    /// RLS answers carry the `x-ratelimit-*` headers.
    pub ratelimit_headers: bool,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            dry_run: false,
            deny_status: 403,
            ratelimit_headers: false,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Parses a TOML configuration file's text; `name` is how errors refer
    /// to it.
    pub fn from_toml(name: &str, text: &str) -> Result<Settings, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            source_name: name.to_owned(),
            message: e.message().to_owned()
                + &e.span()
                    .map(|span| format!(" (at byte {})", span.start))
                    .unwrap_or_default(),
        })
    }

    /// The `REAPER_*` variables `var` knows (`std::env::var` in the
    /// binary; a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let invalid = |name: &str, message: String| ConfigError::Invalid {
            source_name: name.to_owned(),
            message,
        };
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let text = |name: &str| var(name).filter(|v| !v.is_empty());
        let log_format = match text("REAPER_LOG_FORMAT") {
            Some(v) => Some(
                v.parse()
                    .map_err(|e: String| invalid("REAPER_LOG_FORMAT", e))?,
            ),
            None => None,
        };
        let boolean = |name: &str| match text(name) {
            Some(v) => parse_bool(&v)
                .map(Some)
                .ok_or_else(|| invalid(name, format!("`{v}` is not true or false"))),
            None => Ok(None),
        };
        let number = |name: &str| match text(name) {
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| invalid(name, format!("`{v}` is not a number"))),
            None => Ok(None),
        };
        let max_connections = number("REAPER_HTTP_MAX_CONNECTIONS")?;
        let threads = number("REAPER_THREADS")?.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let watch = boolean("REAPER_RELOAD_WATCH")?;
        Ok(Settings {
            policy: path("REAPER_POLICY"),
            entities: path("REAPER_ENTITIES"),
            admin_token_file: path("REAPER_ADMIN_TOKEN_FILE"),
            log_format,
            threads,
            http: HttpSettings {
                addr: text("REAPER_HTTP"),
                max_body: text("REAPER_HTTP_MAX_BODY"),
                request_timeout: text("REAPER_HTTP_REQUEST_TIMEOUT"),
                max_connections,
                idle_timeout: text("REAPER_HTTP_IDLE_TIMEOUT"),
            },
            grpc: GrpcSettings {
                addr: text("REAPER_GRPC"),
                max_message: text("REAPER_GRPC_MAX_MESSAGE"),
                max_concurrent_requests: number("REAPER_GRPC_MAX_CONCURRENT_REQUESTS")?,
                request_timeout: text("REAPER_GRPC_REQUEST_TIMEOUT"),
            },
            ext_authz: ExtAuthzSettings {
                dry_run: boolean("REAPER_EXT_AUTHZ_DRY_RUN")?,
                deny_status: match number("REAPER_EXT_AUTHZ_DENY_STATUS")? {
                    Some(n) => Some(u16::try_from(n).map_err(|_| {
                        invalid(
                            "REAPER_EXT_AUTHZ_DENY_STATUS",
                            format!("`{n}` is not an HTTP status"),
                        )
                    })?),
                    None => None,
                },
            },
            ratelimit: RateLimitSettings {
                response_headers: boolean("REAPER_RATELIMIT_RESPONSE_HEADERS")?,
            },
            reload: ReloadSettings {
                watch,
                debounce: text("REAPER_RELOAD_DEBOUNCE"),
            },
            shutdown: ShutdownSettings {
                drain_timeout: text("REAPER_SHUTDOWN_DRAIN_TIMEOUT"),
            },
            backend: BackendSettings {
                kind: text("REAPER_BACKEND"),
                timeout: text("REAPER_BACKEND_TIMEOUT"),
                retry_after: text("REAPER_BACKEND_RETRY_AFTER"),
                ratelimit_failure: text("REAPER_BACKEND_RATELIMIT_FAILURE"),
                store_failure: text("REAPER_BACKEND_STORE_FAILURE"),
                domain_failure: None,
                redis: RedisSettings {
                    url: text("REAPER_REDIS_URL"),
                    cluster: boolean("REAPER_REDIS_CLUSTER")?,
                    prefix: text("REAPER_REDIS_PREFIX"),
                    clock: text("REAPER_REDIS_CLOCK"),
                },
                mesh: MeshSettings {
                    node_id: text("REAPER_MESH_NODE_ID"),
                    addr: text("REAPER_MESH_ADDR"),
                    advertise: text("REAPER_MESH_ADVERTISE"),
                    peers: text("REAPER_MESH_PEERS").map(|v| split_list(&v)),
                    cluster_id: text("REAPER_MESH_CLUSTER_ID"),
                    batch_interval: None,
                    gossip_interval: None,
                    replication_factor: number("REAPER_MESH_REPLICATION_FACTOR")?,
                    write_quorum: number("REAPER_MESH_WRITE_QUORUM")?,
                    strict_domains: text("REAPER_MESH_STRICT_DOMAINS").map(|v| split_list(&v)),
                },
            },
            // File-only sections.
            ..Settings::default()
        })
    }

    /// `self` with every value `over` sets replaced.
    pub fn overridden_by(self, over: Settings) -> Settings {
        Settings {
            policy: over.policy.or(self.policy),
            entities: over.entities.or(self.entities),
            admin_token_file: over.admin_token_file.or(self.admin_token_file),
            log_format: over.log_format.or(self.log_format),
            threads: over.threads.or(self.threads),
            http: HttpSettings {
                addr: over.http.addr.or(self.http.addr),
                max_body: over.http.max_body.or(self.http.max_body),
                request_timeout: over.http.request_timeout.or(self.http.request_timeout),
                max_connections: over.http.max_connections.or(self.http.max_connections),
                idle_timeout: over.http.idle_timeout.or(self.http.idle_timeout),
            },
            grpc: GrpcSettings {
                addr: over.grpc.addr.or(self.grpc.addr),
                max_message: over.grpc.max_message.or(self.grpc.max_message),
                max_concurrent_requests: over
                    .grpc
                    .max_concurrent_requests
                    .or(self.grpc.max_concurrent_requests),
                request_timeout: over.grpc.request_timeout.or(self.grpc.request_timeout),
            },
            ext_authz: ExtAuthzSettings {
                dry_run: over.ext_authz.dry_run.or(self.ext_authz.dry_run),
                deny_status: over.ext_authz.deny_status.or(self.ext_authz.deny_status),
            },
            ratelimit: RateLimitSettings {
                response_headers: over
                    .ratelimit
                    .response_headers
                    .or(self.ratelimit.response_headers),
            },
            reload: ReloadSettings {
                watch: over.reload.watch.or(self.reload.watch),
                debounce: over.reload.debounce.or(self.reload.debounce),
            },
            shutdown: ShutdownSettings {
                drain_timeout: over.shutdown.drain_timeout.or(self.shutdown.drain_timeout),
            },
            backend: self.backend.overridden_by(over.backend),
            tls: file_only(self.tls, over.tls),
            auth: file_only(self.auth, over.auth),
            decision_log: file_only(self.decision_log, over.decision_log),
            audit: file_only(self.audit, over.audit),
            tracing: file_only(self.tracing, over.tracing),
        }
    }

    /// The values, defaults filled in. Errors name the setting by its key
    /// in the file (`http.max_body`).
    pub fn resolve(self) -> Result<Resolved, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            source_name: key.to_owned(),
            message,
        };
        let addr_text = self.http.addr.as_deref().unwrap_or(DEFAULT_HTTP);
        let http_addr: SocketAddr = addr_text.parse().map_err(|_| {
            invalid(
                "http.addr",
                format!("`{addr_text}` is not an address with a port (127.0.0.1:8080)"),
            )
        })?;
        let grpc_text = self.grpc.addr.as_deref().unwrap_or(DEFAULT_GRPC);
        let grpc_addr = match grpc_text {
            "off" => None,
            text => Some(text.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "grpc.addr",
                    format!("`{text}` is not an address with a port (127.0.0.1:8081) or `off`"),
                )
            })?),
        };
        let defaults = Limits::default();
        let size = |key: &str, text: &Option<String>, default: usize| match text {
            Some(text) => {
                let bytes = reaper_lang::literal::parse_size(text)
                    .map_err(|e| invalid(key, e.to_string()))?;
                usize::try_from(bytes)
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| invalid(key, format!("`{text}` must be positive")))
            }
            None => Ok(default),
        };
        let max_body_bytes = size(
            "http.max_body",
            &self.http.max_body,
            defaults.max_body_bytes,
        )?;
        let duration = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => parse_positive_duration(text).map_err(|m| invalid(key, m)),
            None => Ok(default),
        };
        let max_connections = match self.http.max_connections {
            Some(0) => {
                return Err(invalid(
                    "http.max_connections",
                    "must be at least 1".to_owned(),
                ));
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => defaults.max_connections,
        };
        if self.threads == Some(0) {
            return Err(invalid("threads", "must be at least 1".to_owned()));
        }
        let request_timeout = duration(
            "http.request_timeout",
            &self.http.request_timeout,
            defaults.request_timeout,
        )?;
        let idle_timeout = duration(
            "http.idle_timeout",
            &self.http.idle_timeout,
            defaults.idle_timeout,
        )?;
        if idle_timeout < request_timeout {
            // A request still being answered must not look idle.
            return Err(invalid(
                "http.idle_timeout",
                "must be at least http.request_timeout".to_owned(),
            ));
        }
        let grpc_defaults = GrpcLimits::default();
        let grpc = GrpcLimits {
            max_message_bytes: size(
                "grpc.max_message",
                &self.grpc.max_message,
                grpc_defaults.max_message_bytes,
            )?,
            max_concurrent_requests: match self.grpc.max_concurrent_requests {
                Some(0) => {
                    return Err(invalid(
                        "grpc.max_concurrent_requests",
                        "must be at least 1".to_owned(),
                    ));
                }
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => grpc_defaults.max_concurrent_requests,
            },
            request_timeout: duration(
                "grpc.request_timeout",
                &self.grpc.request_timeout,
                grpc_defaults.request_timeout,
            )?,
        };
        let deny_status = self.ext_authz.deny_status.unwrap_or(403);
        if !(400..=599).contains(&deny_status) {
            return Err(invalid(
                "ext_authz.deny_status",
                format!("{deny_status} is not an error status (400 to 599)"),
            ));
        }
        Ok(Resolved {
            grpc_addr,
            grpc,
            envoy: EnvoyOptions {
                dry_run: self.ext_authz.dry_run.unwrap_or(false),
                deny_status,
                ratelimit_headers: self.ratelimit.response_headers.unwrap_or(false),
            },
            threads: self.threads,
            policy: self.policy.ok_or(ConfigError::NoPolicy)?,
            entities: self.entities,
            admin_token_file: self.admin_token_file,
            log_format: self.log_format.unwrap_or_default(),
            http_addr,
            limits: Limits {
                max_body_bytes,
                request_timeout,
                max_connections,
                idle_timeout,
            },
            watch: self.reload.watch.unwrap_or(true),
            debounce: duration(
                "reload.debounce",
                &self.reload.debounce,
                Duration::from_millis(250),
            )?,
            drain_timeout: duration(
                "shutdown.drain_timeout",
                &self.shutdown.drain_timeout,
                Duration::from_secs(10),
            )?,
            backend: self.backend.resolve()?,
            tls: self.tls,
            auth: self.auth,
            decision_log: self.decision_log,
            audit: self.audit,
            tracing: self.tracing,
        })
    }
}

/// A section only the file sets: taken whole from the upper layer when it
/// has one.
fn file_only<T: Default + PartialEq>(below: T, over: T) -> T {
    if over == T::default() { below } else { over }
}

/// A duration in policy syntax (`250ms`, `5s`), above zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let ms = reaper_lang::literal::parse_duration(text).map_err(|e| e.to_string())?;
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` must be positive"))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::settings::{BackendKind, RedisClock};
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file = Settings::from_toml(
            "reaper.toml",
            "policy = \"a\"\nlog_format = \"json\"\n[http]\naddr = \"127.0.0.1:1\"\nmax_body = \"2KiB\"\n",
        )
        .unwrap();
        let env = Settings::from_env(env(&[
            ("REAPER_HTTP", "127.0.0.1:2"),
            ("REAPER_POLICY", "b"),
        ]))
        .unwrap();
        let flags = Settings {
            policy: Some("c".into()),
            ..Settings::default()
        };
        let resolved = file
            .overridden_by(env)
            .overridden_by(flags)
            .resolve()
            .unwrap();
        assert_eq!(resolved.policy, PathBuf::from("c"));
        assert_eq!(resolved.http_addr.port(), 2);
        assert_eq!(resolved.limits.max_body_bytes, 2048);
        assert_eq!(resolved.log_format, LogFormat::Json);
        assert_eq!(resolved.limits.request_timeout, Duration::from_secs(5));
        assert!(resolved.watch);
    }

    #[test]
    fn bad_values_name_their_source() {
        let error = Settings::from_toml("reaper.toml", "[http]\nport = 3\n").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("reaper.toml: unknown field `port`"),
            "{error}"
        );
        let error = Settings::from_env(env(&[("REAPER_LOG_FORMAT", "xml")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "REAPER_LOG_FORMAT: `xml` is not a log format (text, json)"
        );
        let error = Settings {
            policy: Some("p".into()),
            http: HttpSettings {
                max_body: Some("lots".into()),
                ..HttpSettings::default()
            },
            ..Settings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(error.to_string().starts_with("http.max_body: "), "{error}");
        assert_eq!(
            Settings::default().resolve().unwrap_err(),
            ConfigError::NoPolicy
        );
    }

    #[test]
    fn backends_resolve_with_their_failure_modes() {
        let file = Settings::from_toml(
            "reaper.toml",
            "policy = \"p\"\n[backend]\nkind = \"redis\"\ntimeout = \"50ms\"\n\
             domain_failure = { login = \"fail_closed\" }\n\
             [backend.redis]\nurl = \"redis://127.0.0.1:1,redis://127.0.0.1:2\"\ncluster = true\n",
        )
        .unwrap();
        let resolved = file.resolve().unwrap().backend;
        let BackendKind::Redis(redis) = &resolved.kind else {
            panic!("{resolved:?}")
        };
        assert_eq!(redis.urls.len(), 2);
        assert!(redis.cluster);
        assert_eq!(redis.clock, RedisClock::Redis);
        assert_eq!(resolved.failure.timeout, Duration::from_millis(50));
        use crate::backend::settings::FailureMode;
        assert_eq!(
            resolved.failure.for_domain("login"),
            FailureMode::FailClosed
        );
        assert_eq!(resolved.failure.for_domain("api"), FailureMode::FailOpen);
        assert_eq!(resolved.failure.store, FailureMode::FailClosed);

        let env = Settings::from_env(env(&[
            ("REAPER_POLICY", "p"),
            ("REAPER_BACKEND", "mesh"),
            ("REAPER_MESH_ADDR", "127.0.0.1:7000"),
            ("REAPER_MESH_PEERS", "127.0.0.1:7001, 127.0.0.1:7002"),
        ]))
        .unwrap();
        let BackendKind::Mesh(mesh) = env.resolve().unwrap().backend.kind else {
            panic!("a mesh")
        };
        assert_eq!(mesh.node_id, "127.0.0.1:7000");
        assert_eq!(mesh.peers.len(), 2);
        assert_eq!((mesh.replication_factor, mesh.write_quorum), (3, 2));
    }

    #[test]
    fn bad_backend_settings_name_their_key() {
        let resolve = |toml: &str| {
            Settings::from_toml("f", &format!("policy = \"p\"\n{toml}"))
                .unwrap()
                .resolve()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            resolve("[backend]\nkind = \"etcd\""),
            "backend.kind: `etcd` is not a backend (memory, redis, mesh)"
        );
        assert!(resolve("[backend]\nkind = \"redis\"").starts_with("backend.redis.url: "));
        assert_eq!(
            resolve("[backend]\nkind = \"redis\"\nredis = { url = \"redis://a:1,redis://b:2\" }"),
            "backend.redis.url: several URLs name a cluster's nodes: set backend.redis.cluster = true"
        );
        assert_eq!(
            resolve("[backend]\nstore_failure = \"retry\""),
            "backend.store_failure: `retry` is not a failure mode (fail_open, fail_closed)"
        );
        assert_eq!(
            resolve(
                "[backend]\nkind = \"mesh\"\nmesh = { replication_factor = 2, write_quorum = 3 }"
            ),
            "backend.mesh.write_quorum: 3 is more than the replication factor (2)"
        );
        assert_eq!(
            resolve("[backend]\nkind = \"mesh\"\nmesh = { peers = [\"localhost\"] }"),
            "backend.mesh.peers: `localhost` is not an address with a port (127.0.0.1:7946)"
        );
    }
}

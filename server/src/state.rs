//! What the server shares between requests: the current **world** (a
//! verified engine and the entity data valid for its schema), swapped
//! whole with `arc-swap` so that a request sees one world from start to
//! end; the backend; the clock; and the record of the last reload.
//!
//! Reloads (file watch, SIGHUP, the admin endpoint) and entity changes go
//! through one writer lock, build the next world off the request path
//! (compiling in a blocking thread), and publish it in one store.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use reaper_runtime::{Engine, HeldEntities};
use serde::Serialize;

use crate::backend::Backend;
use crate::clock::Clock;
use crate::config::{EnvoyOptions, Limits};
use crate::entities::{EntityLayers, EntityRef};
use crate::ids::DecisionIds;
use crate::metrics::Metrics;
use crate::observe::{AuditLog, DecisionLog};

/// Reads and compiles the policy: source compiled by the caller's compiler
/// (the CLI's, which renders diagnostics), or a bundle read as is. Returns
/// the bundle bytes, or why there are none (diagnostics as text).
pub trait PolicyLoader: Send + Sync + 'static {
    fn load(&self) -> Result<Vec<u8>, String>;
    /// The files and directories whose changes call for a reload.
    fn watched(&self) -> Vec<PathBuf>;
}

/// A policy and the data it decides with; immutable once built.
#[derive(Debug)]
pub struct World {
    pub engine: Arc<Engine>,
    pub held: HeldEntities,
    /// When this policy was loaded (ms since the epoch).
    pub loaded_at: u64,
    /// Each domain's limits' counters, by limit index.
    pub limit_metrics: std::collections::HashMap<String, Vec<crate::metrics::LimitCounters>>,
}

/// The outcome of the last reload attempt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReloadRecord {
    /// When, in RFC 3339.
    pub at: String,
    pub trigger: &'static str,
    pub ok: bool,
    /// The hash now serving.
    pub policy: String,
    pub error: Option<String>,
}

pub struct Shared {
    world: ArcSwap<World>,
    pub backend: Arc<dyn Backend>,
    pub clock: Clock,
    pub limits: Limits,
    /// How the Envoy services (ext_authz, RLS) answer.
    pub envoy: EnvoyOptions,
    pub admin_token: Option<String>,
    pub ids: DecisionIds,
    pub metrics: Metrics,
    /// `[auth]`: the API's tokens, claims mapping and rate limit; `None`
    /// when not configured (the auth layers are then not installed).
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// Where decision records go (off by default).
    pub decisions: DecisionLog,
    /// Administrative actions: reloads, entity changes, admin calls.
    pub audit: AuditLog,
    loader: Arc<dyn PolicyLoader>,
    entities_file: Option<PathBuf>,
    /// Serialises everything that builds a new world.
    writer: tokio::sync::Mutex<EntityLayers>,
    last_reload: parking_lot::Mutex<ReloadRecord>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// Why a world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the policy does not compile: {0}")]
    Policy(String),
    #[error("the bundle does not verify: {0}")]
    Bundle(String),
    #[error("entities file {path}: {message}")]
    Entities { path: String, message: String },
    #[error("{0}")]
    Internal(String),
    /// `[auth]` does not hold, or does not fit the policy.
    #[error("{0}")]
    Auth(#[from] crate::auth::AuthError),
    /// A configuration setting that does not hold, by its key.
    #[error("{0}")]
    Setting(String),
}

/// What [`Shared::new`] needs besides the loader.
#[derive(Debug)]
pub struct Options {
    pub entities_file: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub limits: Limits,
    pub envoy: EnvoyOptions,
    pub clock: Clock,
    pub decisions: DecisionLog,
    pub audit: AuditLog,
}

impl Shared {
    /// Loads the first world; an error here means the server cannot start.
    pub fn new(
        loader: Arc<dyn PolicyLoader>,
        backend: Arc<dyn Backend>,
        metrics: Metrics,
        options: Options,
    ) -> Result<Shared, LoadError> {
        let layers = EntityLayers::default();
        let (world, layers) = build_world(
            loader.as_ref(),
            options.entities_file.as_deref(),
            &layers,
            options.clock.now_ms(),
        )?;
        let record = ReloadRecord {
            at: timestamp(world.loaded_at),
            trigger: "start",
            ok: true,
            policy: world.engine.hash().to_owned(),
            error: None,
        };
        metrics.policy_loaded(&world);
        Ok(Shared {
            world: ArcSwap::from_pointee(world),
            backend,
            clock: options.clock,
            limits: options.limits,
            envoy: options.envoy,
            admin_token: options.admin_token,
            ids: DecisionIds::new(),
            metrics,
            auth: None,
            decisions: options.decisions,
            audit: options.audit,
            loader,
            entities_file: options.entities_file,
            writer: tokio::sync::Mutex::new(layers),
            last_reload: parking_lot::Mutex::new(record),
        })
    }

    /// The world a request decides in: hold it for the whole request.
    pub fn world(&self) -> Arc<World> {
        self.world.load_full()
    }

    pub fn last_reload(&self) -> ReloadRecord {
        self.last_reload.lock().clone()
    }

    pub fn watched(&self) -> Vec<PathBuf> {
        let mut paths = self.loader.watched();
        paths.extend(self.entities_file.iter().cloned());
        paths
    }

    /// Reads the policy and entity files again and, if both load, swaps
    /// the new world in. On failure the current world keeps serving; the
    /// failure is logged, counted and shown in `/v1/status`.
    pub async fn reload(
        self: &Arc<Self>,
        trigger: &'static str,
    ) -> Result<ReloadRecord, LoadError> {
        let mut layers = self.writer.lock().await;
        let this = Arc::clone(self);
        let current = layers.clone();
        let built = tokio::task::spawn_blocking(move || {
            build_world(
                this.loader.as_ref(),
                this.entities_file.as_deref(),
                &current,
                this.clock.now_ms(),
            )
            // `[auth]`'s keys re-read (a rotated JWKS) and its mapping and
            // API domain checked against the new policy: either failing
            // refuses the reload, and the old keys stay.
            .and_then(|(world, layers)| {
                let auth = crate::auth::stage(this.auth.as_ref(), &world.engine)?;
                Ok((world, layers, auth))
            })
        })
        .await
        .map_err(|e| LoadError::Internal(format!("the reload task failed: {e}")))
        .and_then(|built| built);
        let now = self.clock.now_ms();
        match built {
            Ok((world, new_layers, auth)) => {
                let hash = world.engine.hash().to_owned();
                let changed = hash != self.world().engine.hash();
                self.metrics.policy_loaded(&world);
                self.world.store(Arc::new(world));
                if let (Some(current), Some(staged)) = (&self.auth, auth) {
                    current.publish(staged);
                }
                *layers = new_layers;
                let record = ReloadRecord {
                    at: timestamp(now),
                    trigger,
                    ok: true,
                    policy: hash.clone(),
                    error: None,
                };
                *self.last_reload.lock() = record.clone();
                self.metrics.reload("ok");
                self.audit.record(
                    now,
                    "reload",
                    serde_json::json!({ "trigger": trigger, "result": "ok", "policy": hash, "changed": changed }),
                );
                tracing::info!(trigger, policy = %hash, changed, "policy reloaded");
                Ok(record)
            }
            Err(error) => {
                let serving = self.world().engine.hash().to_owned();
                *self.last_reload.lock() = ReloadRecord {
                    at: timestamp(now),
                    trigger,
                    ok: false,
                    policy: serving.clone(),
                    error: Some(error.to_string()),
                };
                self.metrics.reload("error");
                self.audit.record(
                    now,
                    "reload",
                    serde_json::json!({
                        "trigger": trigger,
                        "result": "error",
                        "error": error.to_string(),
                        "serving": serving,
                    }),
                );
                tracing::error!(trigger, serving = %serving, error = %error, "reload refused; the current policy keeps serving");
                Err(error)
            }
        }
    }

    /// Validates and adds (or replaces) entities; the world is swapped
    /// with the new data.
    pub async fn upsert_entities(
        &self,
        json: &serde_json::Value,
    ) -> Result<usize, crate::entities::EntityError> {
        let mut layers = self.writer.lock().await;
        let world = self.world();
        let mut next = layers.clone();
        let entities = next.upsert(world.engine.schema(), json)?;
        let mut held = world.held.clone();
        let count = entities.len();
        for entity in entities {
            held.insert(entity);
        }
        self.swap_data(&world, held);
        *layers = next;
        Ok(count)
    }

    /// Deletes an entity's data; whether the server held it.
    pub async fn delete_entity(&self, reference: EntityRef) -> bool {
        let mut layers = self.writer.lock().await;
        let world = self.world();
        let Some(ty) = world.engine.schema().entity_type_id(&reference.0) else {
            return false;
        };
        let uid = reaper_lang::value::Uid {
            ty,
            id: reference.1.clone(),
        };
        let mut held = world.held.clone();
        let existed = held.remove(&uid);
        if existed {
            layers.delete(reference);
            self.swap_data(&world, held);
        }
        existed
    }

    /// Publishes `world`'s policy with new entity data.
    fn swap_data(&self, world: &World, held: HeldEntities) {
        let next = World {
            engine: world.engine.clone(),
            held,
            loaded_at: world.loaded_at,
            limit_metrics: world.limit_metrics.clone(),
        };
        self.metrics.entities(next.held.len());
        self.world.store(Arc::new(next));
    }
}

fn timestamp(ms: u64) -> String {
    reaper_lang::literal::format_timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Loads the policy and the entity data valid for it.
fn build_world(
    loader: &dyn PolicyLoader,
    entities_file: Option<&std::path::Path>,
    layers: &EntityLayers,
    now: u64,
) -> Result<(World, EntityLayers), LoadError> {
    let bytes = loader.load().map_err(LoadError::Policy)?;
    let engine = Engine::load(&bytes).map_err(|e| LoadError::Bundle(e.to_string()))?;
    let layers = match entities_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| LoadError::Entities {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            layers.with_file(&text).map_err(|e| LoadError::Entities {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
        }
        None => layers.clone(),
    };
    let held = layers
        .held(engine.schema())
        .map_err(|e| LoadError::Entities {
            path: entities_file
                .map_or_else(|| "(admin changes)".into(), |p| p.display().to_string()),
            message: e.to_string(),
        })?;
    Ok((
        World {
            limit_metrics: crate::metrics::LimitCounters::for_policy(&engine),
            engine: Arc::new(engine),
            held,
            loaded_at: now,
        },
        layers,
    ))
}

//! Prometheus metrics through the `metrics` facade and its Prometheus
//! exporter: decisions by kind and result with latency histograms, forbids
//! that failed, rate-limit hits and over-limit results per domain and
//! limit, store operations, keys and bytes per namespace, reloads, HTTP
//! requests by route and status, and the policy hash as an info metric.
//! Labels only ever carry names from the policy or the server (never
//! client-chosen text), so the number of series stays bounded.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::{RateLimitRequest, RateLimitResponse};

use crate::backend::Backend;
use crate::state::World;

#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    /// Handles registered once: the hot path only adds to atomics.
    hot: std::sync::Arc<Hot>,
}

/// The metrics every request touches, by kind of decision.
struct Hot {
    decisions: [(Counter, Counter, Histogram); KINDS.len()],
    forbid_errors: Counter,
}

/// Decision kinds, with the labels of their two results.
const KINDS: [(&str, &str, &str); 5] = [
    ("authorize", "allow", "deny"),
    ("ext_authz", "allow", "deny"),
    ("authzen", "allow", "deny"),
    ("store", "allow", "deny"),
    ("ratelimit", "ok", "over_limit"),
];

/// The counters of one rate limit, registered when its policy loads.
#[derive(Debug, Clone)]
pub struct LimitCounters {
    hits: Counter,
    over: Counter,
    shadow_over: Counter,
}

impl LimitCounters {
    /// The counters of every limit of every domain of `engine`'s policy.
    pub fn for_policy(engine: &Engine) -> std::collections::HashMap<String, Vec<LimitCounters>> {
        engine
            .bundle()
            .domains
            .iter()
            .map(|domain| {
                let limits = domain
                    .limits
                    .iter()
                    .map(|limit| {
                        let labels = [
                            ("domain", domain.name.clone()),
                            ("limit", limit.spec.name.clone()),
                        ];
                        LimitCounters {
                            hits: counter!("reaper_ratelimit_hits_total", &labels),
                            over: counter!("reaper_ratelimit_over_limit_total", &labels),
                            shadow_over: counter!(
                                "reaper_ratelimit_shadow_over_limit_total",
                                &labels
                            ),
                        }
                    })
                    .collect();
                (domain.name.clone(), limits)
            })
            .collect()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets, in seconds: 1 µs to 1 s.
const LATENCY_BUCKETS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

impl Metrics {
    /// The process's metrics. The recorder is global (the `metrics` macros
    /// write to it), so servers in one process share it.
    pub fn install() -> Metrics {
        let handle = HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (an embedder's): render
                // ours anyway, with only what we record by hand.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        });
        let hot = Hot {
            decisions: KINDS.map(|(kind, yes, no)| {
                (
                    counter!("reaper_decisions_total", "kind" => kind, "result" => yes),
                    counter!("reaper_decisions_total", "kind" => kind, "result" => no),
                    histogram!("reaper_decision_duration_seconds", "kind" => kind),
                )
            }),
            forbid_errors: counter!("reaper_forbid_errors_total"),
        };
        Metrics {
            handle: handle.clone(),
            hot: std::sync::Arc::new(hot),
        }
    }

    fn kind(&self, kind: &str) -> &(Counter, Counter, Histogram) {
        let index = KINDS.iter().position(|(k, _, _)| *k == kind).unwrap_or(0);
        // `index` is a position in KINDS, which `decisions` mirrors.
        &self.hot.decisions[index]
    }

    pub fn decision(&self, kind: &'static str, allow: bool, took: Duration) {
        let (yes, no, latency) = self.kind(kind);
        if allow { yes } else { no }.increment(1);
        latency.record(took.as_secs_f64());
    }

    /// A forbid failed at run time: it may have hidden a denial.
    pub fn forbid_error(&self) {
        self.hot.forbid_errors.increment(1);
    }

    /// A rate-limit decision: each applying limit counts the descriptor's
    /// hits (`hits_addend`, 0 counting 1).
    pub fn rate_limit(
        &self,
        limits: Option<&[LimitCounters]>,
        request: &RateLimitRequest,
        response: &RateLimitResponse,
        took: Duration,
    ) {
        let over = response.overall == reaper_runtime::ratelimit::Code::OverLimit;
        self.decision("ratelimit", !over, took);
        let Some(limits) = limits else { return };
        for (descriptor, status) in request.descriptors.iter().zip(&response.statuses) {
            let hits = descriptor
                .hits_addend
                .filter(|n| *n > 0)
                .unwrap_or(request.hits_addend.max(1));
            for limit in &status.limits {
                let Some(counters) = limits.get(limit.limit as usize) else {
                    continue;
                };
                counters.hits.increment(hits);
                if !limit.allowed {
                    if limit.shadow {
                        counters.shadow_over.increment(hits);
                    } else {
                        counters.over.increment(hits);
                    }
                }
            }
        }
    }

    /// A rate-limit request named a domain the policy does not declare.
    pub fn unknown_domain(&self, _domain: &str) {
        counter!("reaper_ratelimit_unknown_domain_total").increment(1);
    }

    pub fn store(&self, operation: &'static str, result: &'static str) {
        counter!("reaper_store_operations_total", "operation" => operation, "result" => result)
            .increment(1);
    }

    pub fn reload(&self, result: &'static str) {
        counter!("reaper_reloads_total", "result" => result).increment(1);
    }

    pub fn policy_loaded(&self, world: &World) {
        self.entities(world.held.len());
    }

    pub fn entities(&self, count: usize) {
        gauge!("reaper_entities").set(count as f64);
    }

    /// One HTTP response; `route` is the matched route's pattern.
    pub fn http(&self, route: &'static str, status: u16) {
        let status: std::borrow::Cow<'static, str> = match status {
            200 => "200".into(),
            201 => "201".into(),
            204 => "204".into(),
            400 => "400".into(),
            403 => "403".into(),
            404 => "404".into(),
            other => other.to_string().into(),
        };
        counter!("reaper_http_requests_total", "route" => route, "status" => status).increment(1);
    }

    /// One gRPC call: `method` is the full path
    /// (`/envoy.service.auth.v3.Authorization/Check`), `code` the gRPC
    /// status code's name.
    pub fn grpc(&self, method: &'static str, code: &'static str) {
        counter!("reaper_grpc_requests_total", "method" => method, "code" => code).increment(1);
    }

    /// An ext_authz check that mapped to no request, by why (`no_route`,
    /// `mapping_failed`, `unknown_entity`, `invalid_request`). It is
    /// denied (allowed in dry run).
    pub fn unmapped(&self, reason: &'static str) {
        counter!("reaper_ext_authz_unmapped_total", "reason" => reason).increment(1);
    }

    /// An ext_authz check decided in dry run: `would` is what the policy
    /// decided; the answer was allow.
    pub fn dry_run(&self, would: &'static str) {
        counter!("reaper_ext_authz_dry_run_total", "would" => would).increment(1);
    }

    /// Folds recorded histogram samples into their buckets. The exporter
    /// keeps samples until then, so without this (or a scrape) they would
    /// pile up: the server calls it every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The exposition text: what was recorded, the store's and counters'
    /// sizes as of now, the backend's health and the policy serving.
    pub fn render(&self, world: &World, backend: &dyn Backend) -> String {
        let (namespaces, counters) = (backend.namespaces(), backend.counters());
        let health = backend.health();
        let kind = backend.kind();
        gauge!("reaper_backend_info", "kind" => kind).set(1.0);
        gauge!("reaper_backend_up", "backend" => kind).set(f64::from(u8::from(health.available)));
        if let Some(latency) = health.latency_ms {
            gauge!("reaper_backend_latency_ms", "backend" => kind).set(latency);
        }
        if health.node.is_some() {
            let alive = health.peers.iter().filter(|p| p.alive).count();
            gauge!("reaper_mesh_peers", "state" => "alive").set(alive as f64);
            gauge!("reaper_mesh_peers", "state" => "dead").set((health.peers.len() - alive) as f64);
        }
        for ns in &namespaces {
            gauge!("reaper_store_keys", "namespace" => ns.namespace.clone()).set(ns.keys as f64);
            gauge!("reaper_store_bytes", "namespace" => ns.namespace.clone()).set(ns.bytes as f64);
        }
        gauge!("reaper_ratelimit_counters").set(counters as f64);
        let mut text = self.handle.render();
        let escape = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        text.push_str("# HELP reaper_policy_info The policy serving (always 1).\n");
        text.push_str("# TYPE reaper_policy_info gauge\n");
        text.push_str(&format!(
            "reaper_policy_info{{hash=\"{}\",package=\"{}\"}} 1\n",
            escape(world.engine.hash()),
            escape(world.engine.package().unwrap_or(""))
        ));
        text.push_str("# TYPE reaper_policy_loaded_timestamp_seconds gauge\n");
        text.push_str(&format!(
            "reaper_policy_loaded_timestamp_seconds {}\n",
            world.loaded_at as f64 / 1000.0
        ));
        text
    }
}

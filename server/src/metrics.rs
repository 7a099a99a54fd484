//! Prometheus metrics through the `metrics` facade and its Prometheus
//! exporter: decisions by kind and result with latency histograms, forbids
//! that failed, rate-limit hits and over-limit results per domain and
//! limit, store operations, keys and bytes per namespace, reloads, HTTP
//! requests by route and status, and the policy hash as an info metric.
//! Labels only ever carry names from the policy or the server (never
//! client-chosen text), so the number of series stays bounded.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use reaper_runtime::Engine;
use reaper_runtime::ratelimit::RateLimitResponse;

use crate::backend::NamespaceStats;
use crate::state::World;

#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
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
        Metrics {
            handle: handle.clone(),
        }
    }

    pub fn decision(&self, kind: &'static str, allow: bool, took: Duration) {
        let result = if allow { "allow" } else { "deny" };
        counter!("reaper_decisions_total", "kind" => kind, "result" => result).increment(1);
        histogram!("reaper_decision_duration_seconds", "kind" => kind).record(took.as_secs_f64());
    }

    /// A forbid failed at run time: it may have hidden a denial.
    pub fn forbid_error(&self) {
        counter!("reaper_forbid_errors_total").increment(1);
    }

    pub fn rate_limit(
        &self,
        engine: &Engine,
        domain: &str,
        response: &RateLimitResponse,
        took: Duration,
    ) {
        let over = response.overall == reaper_runtime::ratelimit::Code::OverLimit;
        counter!("reaper_decisions_total", "kind" => "ratelimit", "result" => if over { "over_limit" } else { "ok" })
            .increment(1);
        histogram!("reaper_decision_duration_seconds", "kind" => "ratelimit")
            .record(took.as_secs_f64());
        for status in &response.statuses {
            for limit in &status.limits {
                let labels = [
                    ("domain", domain.to_owned()),
                    ("limit", engine.limit_name(domain, limit.limit).to_owned()),
                ];
                counter!("reaper_ratelimit_hits_total", &labels).increment(1);
                if !limit.allowed {
                    if limit.shadow {
                        counter!("reaper_ratelimit_shadow_over_limit_total", &labels).increment(1);
                    } else {
                        counter!("reaper_ratelimit_over_limit_total", &labels).increment(1);
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
        counter!("reaper_store_operations_total", "operation" => operation.to_owned(), "result" => result)
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

    pub fn http(&self, route: &str, status: u16) {
        counter!("reaper_http_requests_total", "route" => route.to_owned(), "status" => status.to_string())
            .increment(1);
    }

    /// The exposition text: what was recorded, the store's and counters'
    /// sizes as of now, and the policy serving.
    pub fn render(&self, world: &World, namespaces: &[NamespaceStats], counters: usize) -> String {
        for ns in namespaces {
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

//! `reaper._reaper.Engine`: one compiled policy, its rate-limit counters
//! (in memory, thread-safe), its TTL store and the entity data it holds.
//! The policy can be replaced atomically (`_replace`, what a policy scope
//! uses); counters, store and held entities outlive the replacement, as
//! they outlive a reload of `reaper serve`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use reaper_lang::request::Limits;
use reaper_runtime::HeldEntities;
use reaper_runtime::ratelimit::counters::MemoryCounters;
use reaper_runtime::store::access::{self, AccessError};
use reaper_runtime::store::{MemoryStore, Put, PutError};

use crate::convert;
use crate::errors;
use crate::results::Decision;
use crate::values::json_to_python;

/// How often idle rate-limit counters and expired store keys are swept,
/// on the way of the calls that count and write (the engine runs no
/// thread), and how many counters one sweep examines.
const SWEEP_EVERY_MS: u64 = 1_000;
const SWEEP_BUDGET: usize = 16_384;

/// A loaded policy and the entity data held for it (validated against its
/// schema, so they change together).
struct Policy {
    engine: reaper_runtime::Engine,
    bundle: Vec<u8>,
    held: HeldEntities,
    /// The held entities as given, to validate against a replacement.
    entities: Arc<serde_json::Value>,
}

/// A compiled policy, ready to decide. Build it with
/// `Engine.from_source` or `Engine.from_bundle`.
#[pyclass(frozen, subclass, module = "reaper._reaper", name = "Engine")]
pub struct Engine {
    policy: ArcSwap<Policy>,
    counters: Arc<MemoryCounters>,
    store: MemoryStore,
    /// A callable returning seconds since the epoch (tests); the system
    /// clock when None.
    clock: Option<Py<PyAny>>,
    last_sweep: AtomicU64,
}

fn load(
    py: Python<'_>,
    bundle: Vec<u8>,
    counters: &Arc<MemoryCounters>,
    entities: Arc<serde_json::Value>,
) -> PyResult<Policy> {
    let engine = reaper_runtime::Engine::load_with_counters(&bundle, counters.clone())
        .map_err(|e| errors::policy_error(py, &format!("invalid bundle: {e}"), Vec::new()))?;
    let held = match &*entities {
        serde_json::Value::Null => HeldEntities::default(),
        json => HeldEntities::from_json(engine.schema(), json, &Limits::default())
            .map_err(|e| errors::from_request_error(py, "entities", &e))?,
    };
    Ok(Policy {
        engine,
        bundle,
        held,
        entities,
    })
}

impl Policy {
    /// Decodes `text` (completing it from the held entities) and runs
    /// `then` on it; pure Rust, so callers run it with the GIL released.
    fn evaluate<T>(
        &self,
        text: &str,
        then: impl FnOnce(&reaper_runtime::Engine, &reaper_runtime::Request) -> T,
    ) -> Result<T, reaper_lang::request::RequestError> {
        let request = self.engine.decode_request_with(text, &self.held)?;
        Ok(then(&self.engine, &request))
    }

    fn decide(&self, text: &str) -> Result<Decision, reaper_lang::request::RequestError> {
        self.evaluate(text, |engine, request| {
            Decision::of(engine, &engine.authorize(request))
        })
    }
}

/// Entities as given (a list in the Python forms, or JSON text) as JSON.
fn entities_json(
    py: Python<'_>,
    entities: Option<&Bound<'_, PyAny>>,
) -> PyResult<serde_json::Value> {
    let Some(entities) = entities.filter(|e| !e.is_none()) else {
        return Ok(serde_json::Value::Null);
    };
    let text = match entities.cast::<PyString>() {
        Ok(text) => text.to_str()?.to_owned(),
        Err(_) => convert::request_json(py, None, None, None, None, None, Some(entities))?,
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| errors::request_error(py, "entities", &format!("malformed JSON: {e}")))?;
    Ok(match json {
        serde_json::Value::Object(mut fields) => fields.remove("entities").unwrap_or_default(),
        other => other,
    })
}

impl Engine {
    fn now_ms(&self, py: Python<'_>) -> PyResult<u64> {
        match &self.clock {
            Some(clock) => {
                let seconds: f64 = clock.call0(py)?.extract(py)?;
                Ok((seconds * 1_000.0).max(0.0) as u64)
            }
            None => Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)),
        }
    }

    /// Sweeps idle counters and purges expired keys at most once a second.
    fn sweep(&self, now_ms: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < SWEEP_EVERY_MS
            || self
                .last_sweep
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.policy
            .load()
            .engine
            .sweep_counters(now_ms, SWEEP_BUDGET);
        self.store.purge_due(now_ms);
    }

    fn decide(&self, py: Python<'_>, text: &str, prefix: &str) -> PyResult<Decision> {
        let policy = self.policy.load();
        py.detach(|| policy.decide(text))
            .map_err(|e| errors::from_request_error(py, prefix, &e))
    }

    /// Authorizes a store access, raising `Denied` when the policy refuses.
    fn authorize_access(
        &self,
        py: Python<'_>,
        action: &str,
        namespace: &str,
        key: &str,
        caller: &Caller<'_, '_>,
        write: Option<(u64, usize)>,
    ) -> PyResult<()> {
        let principal = convert::entity_reference_json(py, caller.principal)?;
        let fields = convert::context_fields(py, caller.context)?;
        let text = access::access_request(&principal, action, namespace, key, &fields, write);
        let decision = self.decide(py, &text, "")?;
        if decision.allowed {
            return Ok(());
        }
        let why = if decision.reasons.is_empty() {
            " (no rule permits it)".to_owned()
        } else {
            format!(" (forbidden by {})", decision.reasons.join(", "))
        };
        let message = format!("the policy denies {action} on Store::\"{namespace}\"{why}");
        Err(errors::denied(
            py,
            &message,
            Py::new(py, decision)?.into_any(),
        ))
    }

    fn spec(&self, py: Python<'_>, namespace: &str) -> PyResult<reaper_lang::limits::StoreSpec> {
        self.policy
            .load()
            .engine
            .store(namespace)
            .cloned()
            .ok_or_else(|| access_error(py, AccessError::UnknownNamespace(namespace.to_owned())))
    }
}

struct Caller<'a, 'py> {
    principal: &'a Bound<'py, PyAny>,
    context: Option<&'a Bound<'py, PyAny>>,
}

/// A refused store access, with the code the HTTP API answers with.
fn access_error(py: Python<'_>, error: AccessError) -> PyErr {
    let code = match error {
        AccessError::UnknownNamespace(_) => "no_such_namespace",
        AccessError::InvalidTtl(_) => "invalid_ttl",
        AccessError::TtlAboveMax { .. } => "ttl_above_max",
        AccessError::ValueTooLarge { .. } => "value_too_large",
    };
    errors::store_error(py, code, &error.to_string())
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (bundle, *, entities=None, clock=None))]
    fn new(
        py: Python<'_>,
        bundle: Vec<u8>,
        entities: Option<&Bound<'_, PyAny>>,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let counters = Arc::new(MemoryCounters::default());
        let entities = Arc::new(entities_json(py, entities)?);
        let policy = load(py, bundle, &counters, entities)?;
        Ok(Engine {
            policy: ArcSwap::from_pointee(policy),
            counters,
            store: MemoryStore::new(),
            clock: clock.filter(|c| !c.is_none(py)),
            last_sweep: AtomicU64::new(0),
        })
    }

    /// The policy's content hash (`sha256:…`), as `reaper compile` prints it.
    #[getter]
    fn policy_hash(&self) -> String {
        self.policy.load().engine.hash().to_owned()
    }

    /// The policy's package name, if it declares one.
    #[getter]
    fn package(&self) -> Option<String> {
        self.policy.load().engine.package().map(str::to_owned)
    }

    /// The compiled bundle (what `reaper compile` writes; `from_bundle`
    /// loads it).
    #[getter]
    fn bundle<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.policy.load().bundle)
    }

    /// Replaces the entity data the engine holds (a list of entities, or
    /// JSON text); requests reaching them without data get theirs.
    fn set_entities(&self, py: Python<'_>, entities: &Bound<'_, PyAny>) -> PyResult<()> {
        let entities = Arc::new(entities_json(py, Some(entities))?);
        let current = self.policy.load();
        let policy = load(py, current.bundle.clone(), &self.counters, entities)?;
        self.policy.store(Arc::new(policy));
        Ok(())
    }

    /// Replaces the policy with `bundle`, keeping counters, store and held
    /// entities (which must fit the new schema); returns the previous
    /// bundle.
    fn _replace<'py>(&self, py: Python<'py>, bundle: Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
        let current = self.policy.load_full();
        let policy = load(py, bundle, &self.counters, current.entities.clone())?;
        let previous = self.policy.swap(Arc::new(policy));
        Ok(PyBytes::new(py, &previous.bundle))
    }

    /// Decides one authorization request: keyword fields, or a request
    /// (a dict in the JSON form, or JSON text).
    #[pyo3(signature = (request=None, /, *, principal=None, action=None, resource=None, context=None, entities=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "the keyword arguments of a Python method"
    )]
    fn authorize(
        &self,
        py: Python<'_>,
        request: Option<&Bound<'_, PyAny>>,
        principal: Option<&Bound<'_, PyAny>>,
        action: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
        entities: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let text =
            convert::request_json(py, request, principal, action, resource, context, entities)?;
        self.decide(py, &text, "")
    }

    /// Decides many requests (dicts or JSON text) with the GIL released
    /// once for all of them. An invalid request raises `RequestError`
    /// naming it (`[3].context.mfa`).
    fn authorize_batch(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Decision>> {
        let mut texts = Vec::new();
        for (i, request) in requests.try_iter()?.enumerate() {
            texts.push(convert::request_text(py, &request?, &format!("[{i}]"))?);
        }
        let policy = self.policy.load();
        let decided: Vec<_> = py.detach(|| texts.iter().map(|text| policy.decide(text)).collect());
        decided
            .into_iter()
            .enumerate()
            .map(|(i, decided)| {
                decided.map_err(|e| errors::from_request_error(py, &format!("[{i}]"), &e))
            })
            .collect()
    }

    /// The decision with, for each candidate rule, whether it applied and
    /// which clause decided: the JSON of `reaper eval --explain --format json`.
    #[pyo3(signature = (request=None, /, *, principal=None, action=None, resource=None, context=None, entities=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "the keyword arguments of a Python method"
    )]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyAny>>,
        principal: Option<&Bound<'py, PyAny>>,
        action: Option<&Bound<'py, PyAny>>,
        resource: Option<&Bound<'py, PyAny>>,
        context: Option<&Bound<'py, PyAny>>,
        entities: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text =
            convert::request_json(py, request, principal, action, resource, context, entities)?;
        let policy = self.policy.load();
        let explained = py.detach(|| {
            policy.evaluate(&text, |engine, request| {
                reaper_runtime::report::explain_json(engine, &engine.explain(request))
            })
        });
        match explained {
            Ok(json) => json_to_python(py, &json),
            Err(e) => Err(errors::from_request_error(py, "", &e)),
        }
    }

    /// Counts a rate-limit request's hits in memory and decides; the
    /// answer is Envoy's JSON with Reaper's details (`/v1/ratelimit`'s).
    #[pyo3(signature = (domain, descriptors, hits=1))]
    fn _rate_limit<'py>(
        &self,
        py: Python<'py>,
        domain: &str,
        descriptors: &Bound<'py, PyAny>,
        hits: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        if hits == 0 {
            return Err(errors::request_error(py, "hits", "hits are at least 1"));
        }
        let text = crate::ratelimit::ratelimit_request_json(py, domain, descriptors, hits)?;
        let request = reaper_runtime::ratelimit::json::decode(&text, &Limits::default())
            .map_err(|e| errors::from_request_error(py, "", &e))?;
        let now = self.now_ms(py)?;
        let policy = self.policy.load();
        let answered = py.detach(|| {
            let answer = policy.engine.rate_limit(&request, now);
            self.sweep(now);
            answer
        });
        let json = match answered {
            Ok(response) => {
                reaper_runtime::ratelimit::json::encode(&policy.engine, &request.domain, &response)
            }
            // As `reaper serve` answers an unknown domain (as Envoy's
            // rate-limit services do): OK, and said.
            Err(reaper_runtime::ratelimit::RateLimitError::UnknownDomain(_)) => serde_json::json!({
                "overall_code": "OK",
                "statuses": request.descriptors.iter().map(|_| serde_json::json!({ "code": "OK" })).collect::<Vec<_>>(),
                "policy": policy.engine.hash(),
                "unknown_domain": true,
            }),
        };
        json_to_python(py, &json)
    }

    /// Reads a live value: `(value, expires_at_ms)`, or None.
    #[pyo3(signature = (namespace, key, principal, context=None))]
    fn _store_get<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        key: &str,
        principal: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, u64)>> {
        self.spec(py, namespace)?;
        let caller = Caller { principal, context };
        self.authorize_access(py, "store.read", namespace, key, &caller, None)?;
        let now = self.now_ms(py)?;
        let stored = py.detach(|| self.store.get(namespace, key, now));
        Ok(stored.map(|s| (PyBytes::new(py, &s.value), s.expires_at)))
    }

    /// Writes a value (`ttl_ms` None: the namespace's); returns its expiry
    /// in ms since the epoch.
    #[pyo3(signature = (namespace, key, value, principal, context=None, ttl=None, create_only=false))]
    #[allow(
        clippy::too_many_arguments,
        reason = "the keyword arguments of a Python method"
    )]
    fn _store_put(
        &self,
        py: Python<'_>,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        principal: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        ttl: Option<&str>,
        create_only: bool,
    ) -> PyResult<u64> {
        let spec = self.spec(py, namespace)?;
        let ttl_ms = match ttl.filter(|t| !t.is_empty()) {
            Some(text) => access::parse_ttl(text).map_err(|e| access_error(py, e))?,
            None => spec.ttl_ms,
        };
        let caller = Caller { principal, context };
        let size = value.len();
        self.authorize_access(
            py,
            "store.write",
            namespace,
            key,
            &caller,
            Some((ttl_ms, size)),
        )?;
        access::check_write(&spec, ttl_ms, size).map_err(|e| access_error(py, e))?;
        let now = self.now_ms(py)?;
        let expires_at = now.saturating_add(ttl_ms);
        let put = Put {
            namespace,
            key,
            value: value.into(),
            expires_at,
            create_only,
            max_keys: spec.max_keys,
        };
        let written = py.detach(|| {
            self.sweep(now);
            self.store.put(put, now)
        });
        match written {
            Ok(()) => Ok(expires_at),
            Err(PutError::Exists) => Err(errors::store_error(
                py,
                "key_exists",
                "a live value exists and the write asked to create only",
            )),
            Err(PutError::Full) => Err(errors::store_error(
                py,
                "namespace_full",
                &format!(
                    "namespace `{namespace}` holds its max_keys of {} keys; nothing is evicted to make room",
                    spec.max_keys.unwrap_or(0)
                ),
            )),
        }
    }

    /// Deletes a live value; whether there was one.
    #[pyo3(signature = (namespace, key, principal, context=None))]
    fn _store_delete(
        &self,
        py: Python<'_>,
        namespace: &str,
        key: &str,
        principal: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.spec(py, namespace)?;
        let caller = Caller { principal, context };
        self.authorize_access(py, "store.delete", namespace, key, &caller, None)?;
        let now = self.now_ms(py)?;
        Ok(py.detach(|| self.store.delete(namespace, key, now)))
    }

    /// Keys and bytes each store namespace holds (expired keys count until
    /// purged).
    fn _store_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for stats in self.store.stats() {
            out.set_item(stats.namespace, (stats.keys, stats.bytes))?;
        }
        Ok(out)
    }
}

//! The value classes the engine and the HTTP client both return and take:
//! `Decision` (frozen; built by the engine, or from a server's answer) and
//! `Entity` (an entity with optional data, for requests).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use reaper_lang::printable::printable_line;
use reaper_runtime::Engine as Policy;

/// The answer to an authorization request. True when allowed, so that
/// `if engine.authorize(...):` means what it reads.
#[pyclass(frozen, eq, module = "reaper", name = "Decision")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    #[pyo3(get)]
    pub allowed: bool,
    /// The ids of the rules that decided: the permits that applied when
    /// allowed, the forbids that applied when denied by them, none when
    /// denied by default.
    pub reasons: Vec<String>,
    /// `(rule id, message)` of the rules that failed at run time.
    pub errors: Vec<(String, String)>,
    /// The content hash of the policy that decided.
    #[pyo3(get)]
    pub policy_hash: String,
    /// The server's decision id (None in process).
    #[pyo3(get)]
    pub decision_id: Option<String>,
}

impl Decision {
    pub fn of(policy: &Policy, decision: &reaper_runtime::Decision) -> Self {
        Decision {
            allowed: decision.allow,
            reasons: decision
                .reasons
                .iter()
                .map(|r| policy.rule_id(*r).to_owned())
                .collect(),
            errors: decision
                .errors
                .iter()
                .map(|(rule, error)| (policy.rule_id(*rule).to_owned(), error.to_string()))
                .collect(),
            policy_hash: policy.hash().to_owned(),
            decision_id: None,
        }
    }
}

#[pymethods]
impl Decision {
    #[new]
    #[pyo3(signature = (allowed, reasons=Vec::new(), errors=Vec::new(), policy_hash=String::new(), decision_id=None))]
    fn new(
        allowed: bool,
        reasons: Vec<String>,
        errors: Vec<(String, String)>,
        policy_hash: String,
        decision_id: Option<String>,
    ) -> Self {
        Decision {
            allowed,
            reasons,
            errors,
            policy_hash,
            decision_id,
        }
    }

    /// The deciding rules' ids, in rule order.
    #[getter]
    fn reasons<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.reasons)
    }

    /// `(rule id, message)` for each rule that failed at run time.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.errors)
    }

    /// `"allow"` or `"deny"`.
    #[getter]
    fn decision(&self) -> &'static str {
        if self.allowed { "allow" } else { "deny" }
    }

    fn __bool__(&self) -> bool {
        self.allowed
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(allowed={}, reasons={:?}, errors={:?}, policy_hash={:?})",
            if self.allowed { "True" } else { "False" },
            self.reasons,
            self.errors,
            self.policy_hash
        )
    }

    /// The decision as `reaper eval` prints it (and `/v1/authorize`
    /// answers): `{"decision", "reasons", "errors", "policy"}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        out.set_item("decision", self.decision())?;
        out.set_item("reasons", PyList::new(py, &self.reasons)?)?;
        let errors = PyList::empty(py);
        for (rule, error) in &self.errors {
            let row = PyDict::new(py);
            row.set_item("rule", rule)?;
            row.set_item("error", error)?;
            errors.append(row)?;
        }
        out.set_item("errors", errors)?;
        out.set_item("policy", &self.policy_hash)?;
        if let Some(id) = &self.decision_id {
            out.set_item("decision_id", id)?;
        }
        Ok(out)
    }
}

/// An entity: its type and id, and optionally its data (`attrs`, a dict,
/// and `parents`, entities or `(type, id)` pairs). Without data it is a
/// reference: the request says who or what, the engine's held entities
/// (or none) say the rest.
#[pyclass(frozen, module = "reaper", name = "Entity")]
#[derive(Debug)]
pub struct Entity {
    #[pyo3(get, name = "type")]
    pub ty: String,
    #[pyo3(get)]
    pub id: String,
    #[pyo3(get)]
    pub attrs: Option<Py<PyAny>>,
    #[pyo3(get)]
    pub parents: Option<Py<PyAny>>,
}

#[pymethods]
impl Entity {
    #[new]
    #[pyo3(signature = (r#type, id, attrs=None, parents=None))]
    fn new(
        r#type: String,
        id: String,
        attrs: Option<Py<PyAny>>,
        parents: Option<Py<PyAny>>,
    ) -> Self {
        Entity {
            ty: r#type,
            id,
            attrs,
            parents,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut out = format!(
            "Entity({:?}, {:?}",
            printable_line(&self.ty),
            printable_line(&self.id)
        );
        if let Some(attrs) = &self.attrs {
            out.push_str(&format!(", attrs={}", attrs.bind(py).repr()?));
        }
        if let Some(parents) = &self.parents {
            out.push_str(&format!(", parents={}", parents.bind(py).repr()?));
        }
        out.push(')');
        Ok(out)
    }
}

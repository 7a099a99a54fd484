//! Raising the package's exceptions, which are defined in Python
//! (`reaper/_errors.py`) so that the in-process engine and the HTTP client
//! raise the same classes with the same attributes.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

static REQUEST_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STORE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DENIED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static POLICY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DIAGNOSTIC: PyOnceLock<Py<PyType>> = PyOnceLock::new();

const MODULE: &str = "reaper._errors";

/// An instance of `class(*args, **kwargs)` raised as an exception; an
/// error building it is raised instead.
fn raise<'py>(
    py: Python<'py>,
    class: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    message: &str,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyErr {
    let built = class
        .import(py, MODULE, name)
        .and_then(|class| class.call((message,), kwargs));
    match built {
        Ok(instance) => PyErr::from_value(instance),
        Err(error) => error,
    }
}

/// `reaper.RequestError(message, field=…)`: a request that does not
/// conform, naming the field (`context.mfa`, `[3].principal`).
pub fn request_error(py: Python<'_>, field: &str, reason: &str) -> PyErr {
    let message = if field.is_empty() {
        reason.to_owned()
    } else {
        format!("`{field}`: {reason}")
    };
    let kwargs = PyDict::new(py);
    let _ = kwargs.set_item("field", field);
    let _ = kwargs.set_item("reason", reason);
    raise(py, &REQUEST_ERROR, "RequestError", &message, Some(&kwargs))
}

/// The runtime's refusal of a request, under `prefix` (`[3]` in a batch).
pub fn from_request_error(
    py: Python<'_>,
    prefix: &str,
    error: &reaper_lang::request::RequestError,
) -> PyErr {
    let field = match (prefix.is_empty(), error.path.is_empty()) {
        (true, _) => error.path.clone(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{}", error.path),
    };
    request_error(py, &field, &error.message)
}

/// `reaper.StoreError(message, code=…)`, with the code the HTTP API
/// answers with (`no_such_namespace`, `ttl_above_max`, `namespace_full`…).
pub fn store_error(py: Python<'_>, code: &str, message: &str) -> PyErr {
    let kwargs = PyDict::new(py);
    let _ = kwargs.set_item("code", code);
    raise(py, &STORE_ERROR, "StoreError", message, Some(&kwargs))
}

/// `reaper.Denied(message, decision=…)`: the policy refused a store
/// access.
pub fn denied(py: Python<'_>, message: &str, decision: Py<PyAny>) -> PyErr {
    let kwargs = PyDict::new(py);
    let _ = kwargs.set_item("decision", decision);
    raise(py, &DENIED, "Denied", message, Some(&kwargs))
}

/// `reaper.PolicyError(rendered, diagnostics=[…])`.
pub fn policy_error(py: Python<'_>, rendered: &str, diagnostics: Vec<Py<PyAny>>) -> PyErr {
    let kwargs = PyDict::new(py);
    let _ = kwargs.set_item("diagnostics", diagnostics);
    raise(py, &POLICY_ERROR, "PolicyError", rendered, Some(&kwargs))
}

/// A `reaper.Diagnostic` built from keyword arguments.
pub fn diagnostic(py: Python<'_>, fields: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
    let class = DIAGNOSTIC.import(py, MODULE, "Diagnostic")?;
    Ok(class.call((), Some(fields))?.unbind())
}

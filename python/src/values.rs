//! Data back into Python: JSON (explanations, rate-limit answers) as
//! dicts and lists, and durations in policy syntax as milliseconds.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

use crate::errors::request_error;

/// JSON data (an explanation, a rate-limit answer) as Python objects.
pub fn json_to_python<'py>(
    py: Python<'py>,
    json: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as Json;
    Ok(match json {
        Json::Null => py.None().into_bound(py),
        Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Json::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => match n.as_u64() {
                Some(u) => u.into_pyobject(py)?.into_any(),
                None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
            },
        },
        Json::String(s) => PyString::new(py, s).into_any(),
        Json::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_python(py, item)?)?;
            }
            list.into_any()
        }
        Json::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, value) in fields {
                dict.set_item(key, json_to_python(py, value)?)?;
            }
            dict.into_any()
        }
    })
}

/// A duration in policy syntax (`"1h30m"`, `"500ms"`) in milliseconds.
#[pyfunction]
pub fn duration_ms(py: Python<'_>, text: &str) -> PyResult<i64> {
    reaper_lang::literal::parse_duration(text)
        .map_err(|e| request_error(py, "", &format!("`{text}` is not a duration: {e}")))
}

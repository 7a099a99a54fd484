//! Rate-limit descriptors from Python (dicts of entries, or lists of
//! `(key, value)` pairs) into Envoy's `RateLimitRequest` JSON, the body
//! `/v1/ratelimit` takes: the engine decodes it with the runtime's decoder,
//! the client sends it, so both refuse the same requests the same way.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use reaper_runtime::store::access::push_json_string;

use crate::errors::request_error;

/// A rate-limit request as Envoy's JSON (`/v1/ratelimit`'s body): each
/// descriptor a dict of entries (`{"generic_key": "api", "user": "ana"}`,
/// in order) or a list of `(key, value)` pairs.
#[pyfunction]
#[pyo3(signature = (domain, descriptors, hits=1))]
pub fn ratelimit_request_json(
    py: Python<'_>,
    domain: &str,
    descriptors: &Bound<'_, PyAny>,
    hits: u64,
) -> PyResult<String> {
    let not_a_list = || request_error(py, "descriptors", "descriptors are a list of descriptors");
    if descriptors.is_instance_of::<PyString>() || descriptors.is_instance_of::<PyDict>() {
        return Err(not_a_list());
    }
    let mut out = String::with_capacity(128);
    out.push_str("{\"domain\":");
    push_json_string(&mut out, domain);
    out.push_str(",\"hits_addend\":");
    out.push_str(&hits.to_string());
    out.push_str(",\"descriptors\":[");
    for (i, descriptor) in descriptors
        .try_iter()
        .map_err(|_| not_a_list())?
        .enumerate()
    {
        let descriptor = descriptor?;
        let path = format!("descriptors[{i}]");
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"entries\":[");
        let shape = || {
            request_error(
                py,
                &path,
                "a descriptor is a dict or a list of (key, value) pairs",
            )
        };
        let pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> =
            if let Ok(dict) = descriptor.cast::<PyDict>() {
                dict.iter().collect()
            } else if descriptor.is_instance_of::<PyString>() {
                return Err(shape());
            } else {
                descriptor
                    .try_iter()
                    .map_err(|_| shape())?
                    .map(|pair| pair.and_then(|p| p.extract()))
                    .collect::<PyResult<_>>()
                    .map_err(|_| shape())?
            };
        for (j, (key, value)) in pairs.iter().enumerate() {
            let (Ok(key), Ok(value)) = (key.cast::<PyString>(), value.cast::<PyString>()) else {
                return Err(request_error(
                    py,
                    &format!("{path}.entries[{j}]"),
                    "descriptor keys and values are strings",
                ));
            };
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            push_json_string(&mut out, key.to_str()?);
            out.push_str(",\"value\":");
            push_json_string(&mut out, value.to_str()?);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    Ok(out)
}

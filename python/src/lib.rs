//! `reaper._reaper`, the native half of the `reaper` Python package: the
//! engine (compile or load once, then authorize, rate-limit and store in
//! process), its result types, and the conversion of Python values into
//! requests. It links the compiler and the runtime, never the server
//! stack. The Python half (`python/reaper/`) adds file reading, async
//! variants, the decorator, the policy scope and the HTTP client.
//!
//! Evaluation runs with the GIL released ([`Python::detach`]): requests
//! are converted to text while holding it, decided without it. The module
//! declares itself safe without the GIL (free-threaded builds): every
//! shared structure is immutable or atomic (`ArcSwap`, the runtime's
//! sharded counters and store).

mod convert;
mod diagnostics;
mod engine;
mod errors;
mod ratelimit;
mod results;
mod values;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _reaper(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<results::Decision>()?;
    m.add_class::<results::Entity>()?;
    m.add_function(wrap_pyfunction!(diagnostics::compile_sources, m)?)?;
    m.add_function(wrap_pyfunction!(convert::request_json, m)?)?;
    m.add_function(wrap_pyfunction!(convert::entity_reference_json, m)?)?;
    m.add_function(wrap_pyfunction!(convert::value_json, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit::ratelimit_request_json, m)?)?;
    m.add_function(wrap_pyfunction!(values::duration_ms, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

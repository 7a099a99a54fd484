//! Reaper runtime: loads verified bundles and evaluates requests.

//! Counter stores and the three algorithms (being written).

//! Reaper's end-to-end path on the 1,024 varied requests in a loop, for
//! profilers: `profile_e2e ROUNDS`.
use std::hint::black_box;

use reaper_compare::{reaper, varied};

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10);
    let engine = reaper::document_sharing();
    let (texts, _, _) = varied::benchmark_json();
    let mut allowed = 0usize;
    for _ in 0..rounds {
        for text in &texts {
            let request = reaper::decode(&engine, black_box(text));
            allowed += usize::from(reaper::authorize(&engine, &request).allow);
        }
    }
    println!("{allowed}");
}

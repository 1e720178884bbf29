//! igentai's benchmarks: each binary in `src/bin/` measures one property
//! of the system, prints a table and can record it in `BENCHMARKS.md`
//! (between markers of its own). The shared code of each lives in a module
//! here.

pub mod models;
pub mod saturation;
pub mod throughput;
pub mod truth;
pub mod yield_sim;

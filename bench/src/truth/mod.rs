//! The truth benchmark (`src/bin/truth.rs`): what a real model names on
//! topics whose every member is known (`universe.rs`, from
//! `bench/data/universes/`), what igentai stores of it and what the judge
//! keeps. `run.rs` drives the model through the worker's provider and the
//! coordinator's topic folder, `score.rs` scores the stored list against
//! the universe, `report.rs` renders the tables. `judged.rs` holds fixed
//! stored lines for the judge benchmark (`src/bin/judge.rs`).

pub mod judged;
pub mod report;
pub mod run;
pub mod score;
pub mod universe;

//! The saturation benchmark's tables: each phase's numbers, the fleet's
//! share of the bare load generator's output tokens per second against
//! its target, and the measurements that say what limits it.

use std::fmt::Write as _;

use super::{Phase, SERVER};
use crate::throughput::report::Row;

pub const BEGIN: &str = "<!-- saturation:begin -->";
pub const END: &str = "<!-- saturation:end -->";

/// The fleet's share of the bare output tokens per second it should reach.
pub const TARGET: f64 = 0.95;

const B: &str = "saturation";

/// The bare phase with the most output tokens per second: the server's
/// best concurrency.
pub fn best(bare: &[Phase]) -> Option<&Phase> {
    bare.iter()
        .max_by(|a, b| a.window.out_per_s().total_cmp(&b.window.out_per_s()))
}

/// The fleet's rate as a share of the bare rate measured before and after
/// it (their mean: the machine's load drifts between phases).
pub fn share(fleet: f64, before: f64, after: f64) -> f64 {
    fleet / ((before + after) / 2.0)
}

/// The bare phases against each other: the lowest output tokens per
/// second as a share of the highest. The run's own noise: a fleet's share
/// above it is as good as the load generator's.
pub fn spread(bare: &[Phase], again: &Phase) -> f64 {
    let rates = bare.iter().chain([again]).map(|p| p.window.out_per_s());
    let (lo, hi) = rates.fold((f64::MAX, 0.0_f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    lo / hi
}

/// The shares of a core the client's processes used in `phase` (all but
/// the model server).
fn clients_cpu(phase: &Phase) -> impl Iterator<Item = &(String, f64)> {
    phase.cpu.iter().filter(|(n, _)| n != SERVER)
}

/// The share of one core process `name` used in `phase`.
fn cpu(phase: &Phase, name: &str) -> Option<f64> {
    phase
        .cpu
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, share)| *share)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A small client's share of a core: tenths of a percent would round it
/// to nothing.
fn client_pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn pct_or_dash(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), pct)
}

/// Every phase, one row each, in the order they ran.
pub fn phases_table(phases: &[&Phase]) -> String {
    let mut out = String::from(
        "| phase | calls in flight | calls counted | window | output tokens/s | prompt tokens/s | \
         output tokens / call | no call open | model server CPU | output tokens / server CPU-s | \
         client CPU | cached prompt tokens | failed calls | load average after |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|\n",
    );
    for p in phases {
        let w = &p.window;
        let server = cpu(p, SERVER);
        let per_cpu_s = server
            .filter(|s| *s > 0.0)
            .map_or_else(|| "–".to_string(), |s| format!("{:.1}", w.out_per_s() / s));
        let clients: Vec<String> = clients_cpu(p)
            .map(|(n, s)| format!("{n} {}", client_pct(*s)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} s | {:.1} | {:.1} | {:.0} | {} | {} | {} | {} | {} of {} | {} | {} |",
            p.name,
            p.concurrency,
            w.calls,
            w.seconds,
            w.out_per_s(),
            w.in_per_s(),
            w.out_per_call(),
            pct(w.idle_share),
            pct_or_dash(server),
            per_cpu_s,
            clients.join(", "),
            w.tokens_cached_in,
            w.tokens_in,
            p.failures,
            p.load_after,
        );
    }
    out
}

/// The headline numbers: bare rates, the fleet's, and its share against
/// the target.
pub fn rows(bare: &[Phase], fleet: &Phase, again: &Phase, status_out_per_s: f64) -> Vec<Row> {
    let Some(best) = best(bare) else {
        return Vec::new();
    };
    let c = best.concurrency;
    let rates: Vec<String> = bare
        .iter()
        .map(|p| format!("{:.1}", p.window.out_per_s()))
        .collect();
    let levels: Vec<String> = bare.iter().map(|p| p.concurrency.to_string()).collect();
    let (before, after, got) = (
        best.window.out_per_s(),
        again.window.out_per_s(),
        fleet.window.out_per_s(),
    );
    let s = share(got, before, after);
    let mut rows = vec![
        Row::info(
            B,
            format!(
                "bare load generator, output tokens/s at {} calls in flight",
                levels.join(" / ")
            ),
            rates.join(" / "),
        ),
        Row::info(
            B,
            "bare phases against each other (again after the fleet included): lowest ÷ \
             highest output tokens/s, the run's own noise",
            pct(spread(bare, again)),
        ),
        Row::info(
            B,
            "the server's best concurrency (most output tokens/s)",
            c.to_string(),
        ),
        Row::info(
            B,
            format!(
                "bare at {}, output tokens/s: before / after the fleet",
                in_flight(c)
            ),
            format!("{before:.1} / {after:.1}"),
        ),
        Row::info(
            B,
            format!(
                "fleet (1 worker, {}), output tokens/s",
                in_flight(fleet.concurrency)
            ),
            format!("{got:.1}"),
        ),
        Row::target(
            B,
            format!(
                "fleet ÷ bare at {} (mean of before and after)",
                in_flight(c)
            ),
            pct(s),
            format!("≥ {:.0}%", 100.0 * TARGET),
            s >= TARGET,
        ),
        Row::info(
            B,
            "fleet ÷ bare before / after the fleet",
            format!("{} / {}", pct(got / before), pct(got / after)),
        ),
        Row::info(
            B,
            "fleet output tokens/s from the status totals over the same window (cross-check)",
            format!("{status_out_per_s:.1}"),
        ),
        Row::info(
            B,
            "prompt tokens the server reported cached: bare best / fleet",
            format!(
                "{} of {} / {} of {}",
                best.window.tokens_cached_in,
                best.window.tokens_in,
                fleet.window.tokens_cached_in,
                fleet.window.tokens_in
            ),
        ),
    ];
    let per_cpu_s = |p: &Phase| {
        cpu(p, SERVER)
            .filter(|s| *s > 0.0)
            .map(|s| p.window.out_per_s() / s)
    };
    if let (Some(f), Some(b), Some(a)) = (per_cpu_s(fleet), per_cpu_s(best), per_cpu_s(again)) {
        rows.push(Row::info(
            B,
            "the same share per server CPU-second (the CPU the shared machine left the server \
             taken out)",
            pct(share(f, b, a)),
        ));
    }
    rows
}

/// What the phases say about the limits of the fleet's share: the most
/// the fleet itself can have taken from the server (time with no call
/// open, and its processes' CPU if all of it came out of the server's
/// core), and what the rest of a gap is.
pub fn limits(bare: &[Phase], fleet: &Phase, again: &Phase) -> Vec<String> {
    let Some(best) = best(bare) else {
        return Vec::new();
    };
    let idle: Vec<String> = bare
        .iter()
        .chain([fleet, again])
        .map(|p| {
            format!(
                "{} at {}: {}",
                p.name,
                p.concurrency,
                pct(p.window.idle_share)
            )
        })
        .collect();
    let server = |p: &Phase| pct_or_dash(cpu(p, SERVER));
    let fleet_cpu: Vec<String> = clients_cpu(fleet)
        .map(|(n, s)| format!("{n} {}", client_pct(*s)))
        .collect();
    let fleet_total: f64 = clients_cpu(fleet).map(|(_, s)| s).sum();
    let fleet_share = share(
        fleet.window.out_per_s(),
        best.window.out_per_s(),
        again.window.out_per_s(),
    );
    vec![
        format!(
            "The fleet's share is {}; the bare phases differ among themselves by as much as {} \
             (lowest ÷ highest). What the fleet itself can have taken from the server is at \
             most {} of its time: {} with no call open, plus {} of a core for the fleet's \
             processes, were all of it taken from the server's core. The rest of a gap is the \
             CPU the shared machine left the server (its column in the table, and the share \
             per server CPU-second).",
            pct(fleet_share),
            pct(spread(bare, again)),
            client_pct(fleet.window.idle_share + fleet_total),
            client_pct(fleet.window.idle_share),
            client_pct(fleet_total),
        ),
        format!(
            "Time with no call open, when the server has nothing to do: {}.",
            idle.join(", ")
        ),
        format!(
            "The model server's CPU (share of one core): bare at {} {}, fleet {}, bare again {}.",
            best.concurrency,
            server(best),
            server(fleet),
            server(again)
        ),
        format!(
            "The fleet's processes over the window: {} of one core, against the load \
             generator's {}.",
            fleet_cpu.join(", "),
            cpu(best, "load generator").map_or_else(|| "–".to_string(), client_pct),
        ),
    ]
}

/// "1 call in flight", "4 calls in flight".
pub fn in_flight(n: usize) -> String {
    if n == 1 {
        "1 call in flight".to_string()
    } else {
        format!("{n} calls in flight")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saturation::window::Window;

    fn phase(concurrency: usize, out_per_s: f64) -> Phase {
        Phase {
            name: "bare",
            concurrency,
            window: Window {
                calls: 10,
                seconds: 10.0,
                tokens_in: 500,
                tokens_cached_in: 0,
                tokens_out: (out_per_s * 10.0) as u64,
                idle_share: 0.0,
            },
            failures: 0,
            cpu: vec![
                ("model server".into(), 0.9),
                ("load generator".into(), 0.02),
            ],
            load_after: "1.00".into(),
        }
    }

    #[test]
    fn the_best_concurrency_makes_most_tokens() {
        let bare = [phase(1, 40.0), phase(2, 50.0), phase(4, 49.0)];
        assert_eq!(best(&bare).map(|p| p.concurrency), Some(2));
        assert!(best(&[]).is_none());
    }

    #[test]
    fn the_share_is_against_the_mean_of_before_and_after() {
        assert_eq!(share(45.0, 50.0, 40.0), 1.0);
        assert_eq!(share(45.0, 50.0, 50.0), 0.9);
    }

    #[test]
    fn the_fleet_is_charged_its_idle_time_and_its_cpu() {
        let bare = [phase(1, 40.0), phase(2, 50.0)];
        let mut fleet = Phase {
            name: "fleet",
            cpu: vec![
                ("worker".into(), 0.002),
                ("coordinator".into(), 0.003),
                ("model server".into(), 0.9),
            ],
            ..phase(2, 45.0)
        };
        fleet.window.idle_share = 0.001;
        let notes = limits(&bare, &fleet, &phase(2, 50.0));
        assert!(
            notes[0].starts_with(
                "The fleet's share is 90.0%; the bare phases differ among themselves by as \
                 much as 80.0% (lowest ÷ highest). What the fleet itself can have taken from \
                 the server is at most 0.60% of its time: 0.10% with no call open, plus 0.50% \
                 of a core"
            ),
            "{}",
            notes[0]
        );
        assert_eq!(in_flight(1), "1 call in flight");
        assert_eq!(in_flight(4), "4 calls in flight");
    }

    #[test]
    fn the_spread_counts_every_bare_phase() {
        let bare = [phase(1, 40.0), phase(2, 50.0)];
        assert_eq!(spread(&bare, &phase(2, 45.0)), 0.8);
        assert_eq!(spread(&bare, &phase(2, 80.0)), 0.5);
    }

    #[test]
    fn the_target_row_says_whether_it_is_met() {
        let bare = [phase(1, 40.0), phase(2, 50.0)];
        let fleet = Phase {
            name: "fleet",
            ..phase(2, 48.0)
        };
        let again = Phase {
            name: "bare again",
            ..phase(2, 50.0)
        };
        let rows = rows(&bare, &fleet, &again, 47.0);
        let target = rows.iter().find(|r| r.met.is_some()).unwrap();
        assert_eq!((target.value.as_str(), target.met), ("96.0%", Some(true)));
        let fleet = Phase {
            name: "fleet",
            ..phase(2, 40.0)
        };
        let rows = super::rows(&bare, &fleet, &again, 40.0);
        let target = rows.iter().find(|r| r.met.is_some()).unwrap();
        assert_eq!((target.value.as_str(), target.met), ("80.0%", Some(false)));
        let table = phases_table(&[&bare[0], &fleet]);
        assert!(table.contains("| bare | 1 | 10 | 10 s | 40.0 | 50.0 | 40 | 0.0% | 90.0% | 44.4 | load generator 2.00% | 0 of 500 | 0 | 1.00 |"), "{table}");
    }
}

//! `coordinator ctl watch`: a run's progress in a terminal, for machines
//! without a browser or the `nats` CLI. It reads the metrics snapshots on
//! `igentai.metrics` and redraws one status line: a progress bar toward the
//! run's target (or, without one, toward full coverage of the estimated
//! total), the rate, the uniqueness, the cost against the budget, the state.
//! It exits when the run it watched stops, printing the stop reason, or on
//! Ctrl-C. Without a run going it waits for one.
//!
//! [`Watcher`] (which snapshot to show, when to stop) and [`status_line`]
//! (snapshot → text) are pure; only [`watch`] touches NATS and the terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use igentai_protocol::subjects::METRICS;
use igentai_protocol::{MetricsSnapshot, RunState};

/// Width of the progress bar, in cells.
const BAR: usize = 24;
/// Without a terminal (a log file, a pipe), a line at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// What to do with a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Draw this line.
    Show(String),
    /// The watched run stopped: draw this line, print the reason, exit.
    Done { line: String, reason: String },
    /// Stale or nothing new.
    Skip,
}

/// Follows the snapshots of one run until it stops.
#[derive(Debug, Default)]
pub struct Watcher {
    last_seq: Option<u64>,
    /// The run seen running, once one was.
    watching: Option<String>,
    /// The run to follow, when the caller knows it: its stop ends the watch
    /// even when no snapshot showed it running (a run that reached its
    /// target at once).
    run_id: Option<String>,
}

impl Watcher {
    /// Follows the run `run_id`.
    pub fn for_run(run_id: String) -> Self {
        Watcher {
            run_id: Some(run_id),
            ..Watcher::default()
        }
    }

    pub fn on(&mut self, s: &MetricsSnapshot, width: usize) -> Step {
        if self.last_seq.is_some_and(|last| s.seq <= last) {
            return Step::Skip;
        }
        self.last_seq = Some(s.seq);
        let run_id = s.run.as_ref().map(|run| run.run_id.clone());
        match s.state {
            RunState::Running => {
                self.watching = run_id;
                Step::Show(status_line(s, width))
            }
            RunState::Stopped
                if run_id.is_some() && (self.watching == run_id || self.run_id == run_id) =>
            {
                let reason = s
                    .run
                    .as_ref()
                    .and_then(|run| run.stop_reason.clone())
                    .unwrap_or_else(|| "stopped".into());
                Step::Done {
                    line: status_line(s, width),
                    reason,
                }
            }
            // Nothing running (yet): say so and wait for a run.
            RunState::Idle | RunState::Stopped => Step::Show(fit(&waiting_line(s), width)),
        }
    }
}

fn waiting_line(s: &MetricsSnapshot) -> String {
    let last = match &s.run {
        Some(run) => format!(
            "; last run \"{}\": {}",
            run.topic,
            run.stop_reason.as_deref().unwrap_or("stopped")
        ),
        None => String::new(),
    };
    format!("no run is active{last}; waiting for one (Ctrl-C to leave)")
}

/// One line for a terminal `width` characters wide: state, topic, progress
/// bar, unique items, rate, uniqueness, cost against budget, elapsed time.
pub fn status_line(s: &MetricsSnapshot, width: usize) -> String {
    let t = &s.totals;
    let state = match s.state {
        RunState::Idle => "idle",
        RunState::Running => "running",
        RunState::Stopped => "stopped",
    };
    let run = s.run.as_ref();
    let mut parts = vec![state.to_string()];
    if let Some(run) = run {
        parts.push(format!("\"{}\"", run.topic));
    }
    let target = run.and_then(|run| run.target).filter(|&t| t > 0);
    let coverage = s
        .estimate
        .as_ref()
        .map(|e| e.coverage)
        .filter(|c| c.is_finite());
    match (target, coverage) {
        (Some(target), _) => {
            let share = t.unique as f64 / target as f64;
            parts.push(format!(
                "{} {} / {} ({})",
                bar(share),
                thousands(t.unique),
                thousands(target),
                percent(share)
            ));
        }
        (None, Some(coverage)) => {
            let total = s.estimate.as_ref().map_or(0.0, |e| e.total);
            parts.push(format!(
                "{} {} unique, {} of ~{} covered",
                bar(coverage),
                thousands(t.unique),
                percent(coverage),
                thousands(total.round() as u64)
            ));
        }
        (None, None) => parts.push(format!("{} unique", thousands(t.unique))),
    }
    parts.push(format!("{}/min", rate(t.unique_per_min)));
    parts.push(format!("{} new", percent(t.uniqueness_ratio)));
    // Once judged: the valid share, with its interval when sampled (the
    // line stays short enough for the cost to show on a terminal).
    let v = &t.validity;
    if v.judged > 0 {
        parts.push(match v.rate < 1.0 {
            true => format!(
                "{} valid ({}-{})",
                percent(v.valid_share),
                percent(v.valid_share_low),
                percent(v.valid_share_high),
            ),
            false => format!("{} valid", percent(v.valid_share)),
        });
    }
    let budget = run.and_then(|run| run.budget_usd);
    parts.push(match budget {
        Some(budget) => format!("{} of {}", usd(t.cost_usd), usd(budget)),
        None => usd(t.cost_usd),
    });
    parts.push(duration(t.elapsed_s));
    if let Some(batches) = batches_part(s) {
        parts.push(batches);
    }
    // On a cluster, where the candidate stream is led from: a leaderless
    // stream is a stalled fleet.
    if let Some(stream) = s.streams.iter().find(|st| st.replicas > 1) {
        parts.push(match &stream.leader {
            Some(leader) => format!("R{} leader {leader}", stream.replicas),
            None => format!("R{} no leader", stream.replicas),
        });
    }
    fit(&parts.join("  "), width)
}

/// The vendor batches in flight on the alive workers (batch mode): how
/// many, their requests answered and failed, and the oldest's age; `None`
/// without any.
fn batches_part(s: &MetricsSnapshot) -> Option<String> {
    let all = s
        .workers
        .iter()
        .filter(|w| w.alive)
        .flat_map(|w| &w.vendor_batches);
    let (mut batches, mut requests, mut done, mut failed) = (0u64, 0, 0, 0);
    let mut oldest: Option<u64> = None;
    for b in all {
        batches += u64::from(b.batches);
        (requests, done, failed) = (requests + b.requests, done + b.done, failed + b.failed);
        oldest = match (oldest, b.oldest_submitted_at_ms) {
            (Some(o), Some(b)) => Some(o.min(b)),
            (o, b) => o.or(b),
        };
    }
    if batches == 0 {
        return None;
    }
    let age = oldest.map_or(0, |o| s.ts_ms.saturating_sub(o)) as f64 / 1000.0;
    let failed = match failed {
        0 => String::new(),
        n => format!(", {} failed", thousands(n)),
    };
    Some(format!(
        "{batches} batches in flight ({}/{} done{failed}, oldest {})",
        thousands(done),
        thousands(requests),
        duration(age)
    ))
}

/// `[██████░░░░]`: `share` of the bar filled, clamped to [0, 1].
pub fn bar(share: f64) -> String {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (share * BAR as f64).round() as usize;
    format!("[{}{}]", "█".repeat(filled), "░".repeat(BAR - filled))
}

/// Cut to `width` characters (a wrapped line cannot be redrawn in place).
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(share: f64) -> String {
    if !share.is_finite() {
        return "–".into();
    }
    let pct = share * 100.0;
    if pct >= 10.0 || pct == 0.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    }
}

fn rate(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x >= 100.0 {
        thousands(x.round() as u64)
    } else {
        format!("{x:.1}")
    }
}

pub(crate) fn usd(x: f64) -> String {
    if x > 0.0 && x < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

fn duration(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0).round() as u64
    } else {
        0
    };
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// Where the lines go: redrawn in place on a terminal, one per
/// [`PLAIN_EVERY`] otherwise.
struct Screen {
    tty: bool,
    drawn: bool,
    last_plain: Option<Instant>,
}

impl Screen {
    fn draw(&mut self, line: &str, force: bool) {
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = write!(out, "\r\x1b[2K{line}");
            self.drawn = true;
        } else if force || self.last_plain.is_none_or(|at| at.elapsed() >= PLAIN_EVERY) {
            let _ = writeln!(out, "{line}");
            self.last_plain = Some(Instant::now());
        }
        let _ = out.flush();
    }

    /// Leaves the cursor on a fresh line.
    fn end(&mut self) {
        if self.tty && self.drawn {
            println!();
            self.drawn = false;
        }
    }
}

enum Event {
    Snapshot(async_nats::Message),
    Interrupted,
    Closed,
}

/// Terminal width from `COLUMNS`, else a common default.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(120)
}

/// Watches until the run stops (Ok, after printing the reason) or Ctrl-C;
/// with `run_id`, until that run stops.
pub async fn watch(client: &async_nats::Client, run_id: Option<String>) -> anyhow::Result<()> {
    let mut sub = client
        .subscribe(METRICS)
        .await
        .with_context(|| format!("cannot subscribe to {METRICS}"))?;
    let width = terminal_width();
    let mut screen = Screen {
        tty: std::io::stdout().is_terminal(),
        drawn: false,
        last_plain: None,
    };
    let mut watcher = run_id.map(Watcher::for_run).unwrap_or_default();
    let mut unreadable = false;
    screen.draw("waiting for metrics from the coordinator…", true);
    loop {
        let event = tokio::select! {
            msg = sub.next() => msg.map_or(Event::Closed, Event::Snapshot),
            _ = tokio::signal::ctrl_c() => Event::Interrupted,
        };
        match event {
            Event::Snapshot(msg) => match serde_json::from_slice::<MetricsSnapshot>(&msg.payload) {
                Ok(snapshot) => match watcher.on(&snapshot, width) {
                    Step::Show(line) => screen.draw(&line, false),
                    Step::Done { line, reason } => {
                        screen.draw(&line, true);
                        screen.end();
                        println!("stopped: {reason}");
                        return Ok(());
                    }
                    Step::Skip => {}
                },
                Err(e) if !unreadable => {
                    unreadable = true;
                    screen.end();
                    eprintln!("ignoring snapshots this version cannot read: {e}");
                }
                Err(_) => {}
            },
            Event::Interrupted => {
                screen.end();
                return Ok(());
            }
            Event::Closed => {
                screen.end();
                anyhow::bail!("the NATS subscription to {METRICS} closed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(seq: u64, state: &str, extra: serde_json::Value) -> MetricsSnapshot {
        let mut json = serde_json::json!({
            "seq": seq, "ts_ms": seq, "state": state,
            "run": {"run_id": "r1", "topic": "Paris attractions", "slug": "paris-attractions",
                    "output_dir": "data/paris-attractions", "started_at_ms": 0,
                    "resumed_items": 0},
            "totals": {"unique": 1234, "new_this_run": 1234, "candidates": 3000,
                       "duplicates": 1766, "batches": 150, "invalid_items": 0,
                       "rejected_batches": 0, "uniqueness_ratio": 0.4113,
                       "unique_per_min": 812.4, "tokens_in": 0, "tokens_out": 0,
                       "cost_usd": 0.2345, "elapsed_s": 92.0},
            "providers": {}, "workers": [], "partitions": [], "weights": {}, "backlog": 0
        });
        merge(&mut json, extra);
        serde_json::from_value(json).unwrap()
    }

    fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
        match (into, from) {
            (serde_json::Value::Object(into), serde_json::Value::Object(from)) => {
                for (k, v) in from {
                    merge(into.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (into, from) => *into = from,
        }
    }

    fn check(extra: serde_json::Value, expected: &str) {
        let s = snapshot(1, "running", extra);
        assert_eq!(status_line(&s, 200), expected);
    }

    #[test]
    fn lines_show_progress_rate_and_cost() {
        let full = "█".repeat(6) + &"░".repeat(18);
        check(
            serde_json::json!({"run": {"target": 5000, "budget_usd": 2.0}}),
            &format!(
                "running  \"Paris attractions\"  [{full}] 1,234 / 5,000 (25%)  812/min  41% new  $0.23 of $2.00  1m32s"
            ),
        );
        // No target: toward coverage of the estimate.
        let half = "█".repeat(12) + &"░".repeat(12);
        check(
            serde_json::json!({"estimate": {"total": 2468.2, "coverage": 0.5, "f1": 3, "f2": 1}}),
            &format!(
                "running  \"Paris attractions\"  [{half}] 1,234 unique, 50% of ~2,468 covered  812/min  41% new  $0.23  1m32s"
            ),
        );
        // Neither: just the count.
        check(
            serde_json::json!({"totals": {"unique": 7, "unique_per_min": 3.25, "cost_usd": 0.004, "elapsed_s": 7300.0, "uniqueness_ratio": 0.05}}),
            "running  \"Paris attractions\"  7 unique  3.2/min  5.0% new  $0.0040  2h01m",
        );
        // Judged: the valid share, sampled with its interval.
        check(
            serde_json::json!({"totals": {"unique": 100, "unique_per_min": 3.0, "cost_usd": 0.5, "elapsed_s": 60.0, "uniqueness_ratio": 0.5,
                "validity": {"rate": 1.0, "judged": 100, "valid": 80, "valid_share": 0.8, "valid_per_usd": 160.0}}}),
            "running  \"Paris attractions\"  100 unique  3.0/min  50% new  80% valid  $0.50  1m00s",
        );
        check(
            serde_json::json!({"totals": {"unique": 100, "unique_per_min": 3.0, "cost_usd": 0.5, "elapsed_s": 60.0, "uniqueness_ratio": 0.5,
                "validity": {"rate": 0.2, "judged": 20, "valid": 16, "valid_share": 0.8, "valid_share_low": 0.58, "valid_share_high": 0.92}}}),
            "running  \"Paris attractions\"  100 unique  3.0/min  50% new  80% valid (58%-92%)  $0.50  1m00s",
        );
        // On a cluster: the stream's copies and leader.
        check(
            serde_json::json!({"streams": [{"name": "IGENTAI_CANDIDATES", "replicas": 3, "leader": "n2"}]}),
            "running  \"Paris attractions\"  1,234 unique  812/min  41% new  $0.23  1m32s  R3 leader n2",
        );
        check(
            serde_json::json!({"streams": [{"name": "IGENTAI_CANDIDATES", "replicas": 3}]}),
            "running  \"Paris attractions\"  1,234 unique  812/min  41% new  $0.23  1m32s  R3 no leader",
        );
        check(
            serde_json::json!({"streams": [{"name": "IGENTAI_CANDIDATES", "replicas": 1, "leader": "x"}]}),
            "running  \"Paris attractions\"  1,234 unique  812/min  41% new  $0.23  1m32s",
        );
        // Batch mode: the vendor batches in flight on alive workers.
        let worker = |alive: bool, batches: serde_json::Value| {
            serde_json::to_value(igentai_protocol::WorkerStats {
                worker_id: "w".into(),
                alive,
                state: igentai_protocol::WorkerState::Running,
                run_id: None,
                partition: None,
                last_seen_ms_ago: 0,
                in_flight: 0,
                llm_failures: 0,
                publish_retries: 0,
                yields: Default::default(),
                vendor_batches: serde_json::from_value(batches).unwrap(),
            })
            .unwrap()
        };
        check(
            serde_json::json!({"ts_ms": 3_900_000, "workers": [
                worker(true, serde_json::json!([{"provider": "bulk", "batches": 2, "oldest_submitted_at_ms": 0,
                    "requests": 400, "done": 150, "failed": 3}])),
                worker(true, serde_json::json!([{"provider": "bulk", "batches": 1, "oldest_submitted_at_ms": 300_000,
                    "requests": 1200, "done": 0, "failed": 0}])),
                worker(false, serde_json::json!([{"provider": "bulk", "batches": 9, "requests": 9, "done": 0, "failed": 0}])),
            ]}),
            "running  \"Paris attractions\"  1,234 unique  812/min  41% new  $0.23  1m32s  3 batches in flight (150/1,600 done, 3 failed, oldest 1h05m)",
        );
        check(
            serde_json::json!({"workers": [worker(true, serde_json::json!([{"provider": "bulk", "batches": 0, "requests": 0, "done": 0, "failed": 0}]))]}),
            "running  \"Paris attractions\"  1,234 unique  812/min  41% new  $0.23  1m32s",
        );
        // Past the target the bar is full, not longer.
        let s = snapshot(1, "running", serde_json::json!({"run": {"target": 1000}}));
        assert!(status_line(&s, 200).contains(&format!("[{}]", "█".repeat(24))));
        // A narrow terminal gets a cut line.
        let line = status_line(&s, 40);
        assert_eq!(line.chars().count(), 40);
        assert!(line.ends_with('…'));
    }

    #[test]
    fn watching_ends_when_the_watched_run_stops() {
        let mut w = Watcher::default();
        let stopped_before = snapshot(
            5,
            "stopped",
            serde_json::json!({"run": {"run_id": "r0", "stop_reason": "stop command"}}),
        );
        match w.on(&stopped_before, 200) {
            Step::Show(line) => assert!(line.starts_with("no run is active"), "{line}"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(w.on(&snapshot(6, "running", serde_json::json!({})), 200), Step::Show(l) if l.starts_with("running"))
        );
        // Stale snapshots are dropped.
        assert_eq!(
            w.on(&snapshot(6, "running", serde_json::json!({})), 200),
            Step::Skip
        );
        assert_eq!(
            w.on(&snapshot(4, "stopped", serde_json::json!({})), 200),
            Step::Skip
        );
        let stopped = snapshot(
            7,
            "stopped",
            serde_json::json!({"run": {"stop_reason": "target reached (5000 of 5000 unique items)"}}),
        );
        match w.on(&stopped, 200) {
            Step::Done { line, reason } => {
                assert!(line.starts_with("stopped"), "{line}");
                assert_eq!(reason, "target reached (5000 of 5000 unique items)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_named_run_ends_the_watch_even_if_never_seen_running() {
        let stopped = |run_id: &str| {
            snapshot(
                9,
                "stopped",
                serde_json::json!({"run": {"run_id": run_id, "stop_reason": "target reached"}}),
            )
        };
        // Without a run id, a run that stopped before the watch began is an
        // earlier one: keep waiting.
        assert!(matches!(
            Watcher::default().on(&stopped("r1"), 200),
            Step::Show(_)
        ));
        // Another run's stop does not end the watch of r1.
        assert!(matches!(
            Watcher::for_run("r1".into()).on(&stopped("r0"), 200),
            Step::Show(_)
        ));
        match Watcher::for_run("r1".into()).on(&stopped("r1"), 200) {
            Step::Done { reason, .. } => assert_eq!(reason, "target reached"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_read_well() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
        assert_eq!(bar(f64::NAN), format!("[{}]", "░".repeat(24)));
        assert_eq!(bar(-1.0), format!("[{}]", "░".repeat(24)));
        assert_eq!(percent(f64::INFINITY), "–");
        assert_eq!(duration(59.6), "1m00s");
    }
}

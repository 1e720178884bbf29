//! `GET /metrics`: the latest snapshot in the Prometheus text exposition
//! format (version 0.0.4), so a run can be scraped, graphed and alerted on
//! next to everything else an operator watches.
//!
//! Families are grouped (every sample of a family follows its `# HELP` and
//! `# TYPE` lines), counters end in `_total`, and label values are escaped:
//! provider names, worker ids, partition names and topics come from
//! configuration, the network and LLMs, and may hold quotes, backslashes or
//! line breaks. Run counters (`_total`) restart at zero with each run, which
//! Prometheus treats as a counter reset. Rendering is a pure function of the
//! snapshot and the relay's counters; [`crate::exposition`] writes the text.

use igentai_protocol::{MetricsSnapshot, RunState, WorkerStats, Yield};

use crate::exposition::Exposition;
use crate::feed::Stats;

/// The exposition: the dashboard's own counters always, the run's numbers
/// when a snapshot has been read.
pub fn render(snapshot: Option<&MetricsSnapshot>, relay: &Stats, nats_connected: bool) -> String {
    let mut x = Exposition::default();
    dashboard(&mut x, relay, nats_connected, snapshot.is_some());
    if let Some(s) = snapshot {
        run(&mut x, s);
        providers(&mut x, s);
        models(&mut x, s);
        workers(&mut x, s);
        partitions(&mut x, s);
    }
    x.render()
}

fn dashboard(x: &mut Exposition, relay: &Stats, nats_connected: bool, have_snapshot: bool) {
    x.gauge(
        "igentai_dashboard_nats_connected",
        "Whether the dashboard is connected to NATS.",
        &[],
        nats_connected,
    );
    x.gauge(
        "igentai_dashboard_snapshot_available",
        "Whether a metrics snapshot has been received and read (the run metrics below need one).",
        &[],
        have_snapshot,
    );
    x.gauge(
        "igentai_dashboard_ws_clients",
        "Browsers connected to the live feed.",
        &[],
        relay.clients as u64,
    );
    x.counter(
        "igentai_dashboard_snapshots_total",
        "Metrics snapshots relayed to browsers.",
        &[],
        relay.snapshots,
    );
    x.counter(
        "igentai_dashboard_items_events_total",
        "New-items events relayed to browsers.",
        &[],
        relay.items_events,
    );
    for (reason, n) in [
        ("stale_snapshot", relay.stale_snapshots),
        ("bad_metrics", relay.bad_metrics),
        ("bad_items", relay.bad_items),
    ] {
        x.counter(
            "igentai_dashboard_dropped_total",
            "Messages the dashboard dropped, by reason.",
            &[("reason", reason)],
            n,
        );
    }
}

fn run(x: &mut Exposition, s: &MetricsSnapshot) {
    x.gauge(
        "igentai_snapshot_seq",
        "Sequence number of the latest snapshot.",
        &[],
        s.seq,
    );
    x.gauge(
        "igentai_snapshot_timestamp_seconds",
        "When the coordinator took the latest snapshot (Unix time).",
        &[],
        s.ts_ms as f64 / 1000.0,
    );
    for (state, name) in [
        (RunState::Idle, "idle"),
        (RunState::Running, "running"),
        (RunState::Stopped, "stopped"),
    ] {
        x.gauge(
            "igentai_run_state",
            "1 for the coordinator's current run state, 0 for the others.",
            &[("state", name)],
            s.state == state,
        );
    }
    if let Some(run) = &s.run {
        x.gauge(
            "igentai_run_info",
            "The current or last run; always 1.",
            &[
                ("run_id", &run.run_id),
                ("topic", &run.topic),
                ("slug", &run.slug),
            ],
            1u64,
        );
        if let Some(target) = run.target {
            x.gauge(
                "igentai_run_target_items",
                "The run stops once the topic has this many unique items.",
                &[],
                target,
            );
        }
        if let Some(budget) = run.budget_usd {
            x.gauge(
                "igentai_run_budget_usd",
                "The run stops once it has spent this many US dollars.",
                &[],
                budget,
            );
        }
        if let Some(max) = run.max_duration_s {
            x.gauge(
                "igentai_run_max_duration_seconds",
                "The run stops after this long.",
                &[],
                max,
            );
        }
    }
    let t = &s.totals;
    x.gauge(
        "igentai_unique_items",
        "Unique items of the topic, earlier runs included.",
        &[],
        t.unique,
    );
    x.counter(
        "igentai_new_items_total",
        "Unique items found by this run.",
        &[],
        t.new_this_run,
    );
    x.counter(
        "igentai_candidates_total",
        "Candidate items ingested by this run.",
        &[],
        t.candidates,
    );
    x.counter(
        "igentai_duplicates_total",
        "Candidates that were already known.",
        &[],
        t.duplicates,
    );
    x.counter(
        "igentai_batches_total",
        "Candidate batches (LLM answers) ingested by this run.",
        &[],
        t.batches,
    );
    x.counter(
        "igentai_invalid_items_total",
        "Candidate lines dropped as unusable.",
        &[],
        t.invalid_items,
    );
    let mut by_kind: u64 = 0;
    for (kind, n) in &t.rejected_by_kind {
        by_kind += n;
        x.counter(
            "igentai_rejected_batches_total",
            "Batches refused as unreadable, by kind.",
            &[("kind", kind)],
            *n,
        );
    }
    if t.rejected_batches > by_kind {
        x.counter(
            "igentai_rejected_batches_total",
            "Batches refused as unreadable, by kind.",
            &[("kind", "other")],
            t.rejected_batches - by_kind,
        );
    }
    x.gauge(
        "igentai_uniqueness_ratio",
        "New unique items per candidate in this run.",
        &[],
        t.uniqueness_ratio,
    );
    x.gauge(
        "igentai_unique_per_minute",
        "New unique items per minute over the last minute.",
        &[],
        t.unique_per_min,
    );
    tokens(
        x,
        "igentai_tokens_total",
        [t.tokens_in, t.tokens_cached_in, t.tokens_out],
        &[],
    );
    x.counter(
        "igentai_cost_usd_total",
        "US dollars spent by this run.",
        &[],
        t.cost_usd,
    );
    validity(x, &t.validity);
    x.gauge(
        "igentai_run_elapsed_seconds",
        "How long the run has been going.",
        &[],
        t.elapsed_s,
    );
    x.gauge(
        "igentai_backlog_batches",
        "Batches waiting in the stream to be ingested.",
        &[],
        s.backlog,
    );
    if let Some(e) = &s.estimate {
        x.gauge(
            "igentai_estimated_items",
            "Chao1 estimate of how many distinct items the topic holds.",
            &[],
            e.total,
        );
        x.gauge(
            "igentai_coverage_ratio",
            "Unique items found per estimated distinct item.",
            &[],
            e.coverage,
        );
    }
    x.gauge(
        "igentai_weights_version",
        "Version of the provider weights; grows with every change.",
        &[],
        s.weights_version,
    );
    x.gauge(
        "igentai_weights_manual",
        "1 while the weights are an operator's override.",
        &[],
        s.weights_manual,
    );
    x.gauge(
        "igentai_coordinator_problem",
        "1 while the coordinator reports a problem that needs an operator (see /api/status).",
        &[],
        s.last_error.is_some(),
    );
}

/// What judges said of the run's new items.
fn validity(x: &mut Exposition, v: &igentai_protocol::Validity) {
    for (verdict, n) in [("yes", v.valid), ("no", v.invalid), ("unsure", v.unsure)] {
        x.counter(
            "igentai_verdicts_total",
            "Verdicts on this run's new items, by answer (yes: a real instance of the topic).",
            &[("verdict", verdict)],
            n,
        );
    }
    x.gauge(
        "igentai_judge_rate",
        "Share of the run's new items sent to a judge.",
        &[],
        v.rate,
    );
    x.gauge(
        "igentai_valid_share",
        "Judged items that are valid (0 while none is judged).",
        &[],
        v.valid_share,
    );
    x.gauge(
        "igentai_valid_items",
        "New items that are valid: counted, or estimated from a sample.",
        &[],
        v.valid_items,
    );
    x.gauge(
        "igentai_valid_per_usd",
        "Valid new items per US dollar spent by the run, judging included.",
        &[],
        v.valid_per_usd,
    );
    x.gauge(
        "igentai_judge_waiting_items",
        "Items waiting for their verdict.",
        &[],
        v.waiting,
    );
    x.counter(
        "igentai_judge_cost_usd_total",
        "US dollars spent on judge calls (part of igentai_cost_usd_total).",
        &[],
        v.cost_usd,
    );
}

fn tokens(x: &mut Exposition, name: &str, tokens: [u64; 3], labels: &[(&str, &str)]) {
    let [tokens_in, cached_in, tokens_out] = tokens;
    for (direction, n) in [
        ("in", tokens_in),
        ("cached_in", cached_in),
        ("out", tokens_out),
    ] {
        let mut with = labels.to_vec();
        with.push(("direction", direction));
        x.counter(
            name,
            "LLM tokens, by direction (prompt in, of which read from a prompt cache cached_in, answer out).",
            &with,
            n,
        );
    }
}

/// The yield families of one kind of source (`provider`, `model`, ...).
fn yields(x: &mut Exposition, entity: &str, label: (&str, &str), y: &Yield) {
    let labels = [label];
    let name = |metric: &str| format!("igentai_{entity}_{metric}");
    x.counter(
        &name("batches_total"),
        "Answers (batches) ingested in this run.",
        &labels,
        y.batches,
    );
    x.counter(
        &name("candidates_total"),
        "Candidate items ingested in this run.",
        &labels,
        y.candidates,
    );
    x.counter(
        &name("unique_items_total"),
        "New unique items in this run.",
        &labels,
        y.unique,
    );
    tokens(
        x,
        &name("tokens_total"),
        [y.tokens_in, y.tokens_cached_in, y.tokens_out],
        &labels,
    );
    x.counter(
        &name("cost_usd_total"),
        "US dollars spent in this run.",
        &labels,
        y.cost_usd,
    );
    x.gauge(
        &name("uniqueness_ratio"),
        "New unique items per candidate.",
        &labels,
        y.uniqueness_ratio,
    );
    x.gauge(
        &name("unique_per_minute"),
        "New unique items per minute over the last minute.",
        &labels,
        y.unique_per_min,
    );
    x.gauge(
        &name("unique_per_1k_tokens"),
        "New unique items per thousand tokens.",
        &labels,
        y.unique_per_1k_tokens,
    );
    x.gauge(
        &name("unique_per_usd"),
        "New unique items per US dollar (0 while nothing was spent).",
        &labels,
        y.unique_per_usd,
    );
    x.gauge(
        &name("valid_share"),
        "Of its new items a judge saw, the share judged valid (0 while none is judged).",
        &labels,
        y.valid_share,
    );
    x.gauge(
        &name("valid_per_usd"),
        "New items times their valid share, per US dollar.",
        &labels,
        y.valid_per_usd,
    );
    x.gauge(
        &name("latency_p50_seconds"),
        "Median LLM answer latency.",
        &labels,
        y.latency_p50_ms as f64 / 1000.0,
    );
    x.gauge(
        &name("latency_p95_seconds"),
        "95th percentile LLM answer latency.",
        &labels,
        y.latency_p95_ms as f64 / 1000.0,
    );
}

fn providers(x: &mut Exposition, s: &MetricsSnapshot) {
    for (name, p) in &s.providers {
        let label = [("provider", name.as_str())];
        x.gauge(
            "igentai_provider_info",
            "A provider and its model; always 1.",
            &[("provider", name), ("model", &p.model)],
            1u64,
        );
        x.counter(
            "igentai_provider_requests_total",
            "LLM calls made by the fleet, answered or failed (since each worker started).",
            &label,
            p.requests,
        );
        for (kind, n) in &p.failures {
            x.counter(
                "igentai_provider_failures_total",
                "Failed LLM calls by kind (since each worker started).",
                &[("provider", name), ("kind", kind)],
                *n,
            );
        }
        x.gauge(
            "igentai_provider_healthy_workers",
            "Workers that report the provider healthy.",
            &label,
            p.healthy_workers,
        );
        x.gauge(
            "igentai_provider_open_breakers",
            "Workers whose circuit breaker for the provider is open.",
            &label,
            p.open_breakers,
        );
        yields(x, "provider", ("provider", name), &p.yields);
    }
    for (name, weight) in &s.weights {
        x.gauge(
            "igentai_provider_weight",
            "Share of requests the coordinator wants sent to the provider.",
            &[("provider", name)],
            *weight,
        );
    }
}

fn models(x: &mut Exposition, s: &MetricsSnapshot) {
    for (name, y) in &s.models {
        yields(x, "model", ("model", name), y);
    }
}

fn workers(x: &mut Exposition, s: &MetricsSnapshot) {
    for w in &s.workers {
        let label = [("worker", w.worker_id.as_str())];
        x.gauge(
            "igentai_worker_alive",
            "1 while the worker's heartbeats arrive.",
            &label,
            w.alive,
        );
        let state = serde_json::to_value(w.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        x.gauge(
            "igentai_worker_info",
            "A worker's state and partition; always 1.",
            &[
                ("worker", &w.worker_id),
                ("state", &state),
                ("partition", w.partition.as_deref().unwrap_or("")),
            ],
            1u64,
        );
        x.gauge(
            "igentai_worker_in_flight",
            "LLM calls the worker has in flight.",
            &label,
            w.in_flight,
        );
        x.gauge(
            "igentai_worker_last_seen_seconds",
            "Time since the worker's last heartbeat.",
            &label,
            w.last_seen_ms_ago as f64 / 1000.0,
        );
        x.counter(
            "igentai_worker_llm_failures_total",
            "Failed LLM calls (since the worker started).",
            &label,
            w.llm_failures,
        );
        x.counter(
            "igentai_worker_publish_retries_total",
            "Batch publishes retried (since the worker started).",
            &label,
            w.publish_retries,
        );
        yields(x, "worker", ("worker", &w.worker_id), &w.yields);
        vendor_batches(x, s.ts_ms, w);
    }
}

/// A worker's vendor batches in flight, per batch-mode provider.
fn vendor_batches(x: &mut Exposition, now_ms: u64, w: &WorkerStats) {
    for b in &w.vendor_batches {
        let label = [
            ("worker", w.worker_id.as_str()),
            ("provider", b.provider.as_str()),
        ];
        x.gauge(
            "igentai_worker_vendor_batches",
            "Vendor batches in flight (batch mode).",
            &label,
            b.batches,
        );
        for (state, n) in [("all", b.requests), ("done", b.done), ("failed", b.failed)] {
            x.gauge(
                "igentai_worker_vendor_batch_requests",
                "Requests of the vendor batches in flight: all of them, answered, failed.",
                &[label[0], label[1], ("state", state)],
                n,
            );
        }
        if let Some(oldest) = b.oldest_submitted_at_ms {
            x.gauge(
                "igentai_worker_vendor_batch_oldest_age_seconds",
                "Time since the oldest vendor batch in flight was submitted.",
                &label,
                now_ms.saturating_sub(oldest) as f64 / 1000.0,
            );
        }
    }
}

fn partitions(x: &mut Exposition, s: &MetricsSnapshot) {
    for p in &s.partitions {
        x.gauge(
            "igentai_partition_info",
            "A partition of the topic and its state; always 1.",
            &[("partition", &p.name), ("state", &p.state)],
            1u64,
        );
        yields(x, "partition", ("partition", &p.name), &p.yields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_snapshot_only_the_dashboard_speaks() {
        let text = render(None, &Stats::default(), false);
        assert!(
            text.contains("igentai_dashboard_nats_connected 0\n"),
            "{text}"
        );
        assert!(
            text.contains("igentai_dashboard_snapshot_available 0\n"),
            "{text}"
        );
        assert!(!text.contains("igentai_unique_items"), "{text}");
    }
}

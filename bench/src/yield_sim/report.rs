//! The yield benchmark's results as Markdown, and their place in
//! `BENCHMARKS.md`: between `<!-- yield:begin -->` and `<!-- yield:end -->`,
//! leaving everything outside the markers as it was.

use std::fmt::Write;

use super::experiments::{Alone, BatchRow, MoveAway, Regret, Settings, YieldRow};
use super::fleet::Fleet;
use worker::providers::sim::MAX_INVENTION;

pub const BEGIN: &str = "<!-- yield:begin -->";
pub const END: &str = "<!-- yield:end -->";

/// Where and how the numbers were produced.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub command: String,
    pub machine: String,
    pub date: String,
}

pub struct Results<'a> {
    pub fleet: &'a Fleet,
    pub settings: &'a Settings,
    pub yields: &'a [YieldRow],
    pub alone: &'a [Alone],
    pub regret: &'a [Regret],
    pub move_away: &'a [MoveAway],
    pub batch: &'a [BatchRow],
}

/// The section, Markdown.
pub fn markdown(r: &Results, p: &Provenance) -> String {
    let mut out = String::new();
    let s = r.settings;
    let _ = writeln!(
        out,
        "## Yield: true distinct items per token and per dollar\n"
    );
    let _ = writeln!(
        out,
        "Measured {} on {} with `{}`. Virtual time on the real coordinator steering \
         (bandit, partition tree, avoid hints, dedup) and the real worker code (prompts, \
         parsing, provider choice, breakers) calling the `sim` provider without waiting; \
         no NATS. {} workers × {} calls in flight, the coordinator ticking every second, \
         topic \"{}\"; every number is the mean of {} seeded runs. The sims answer like \
         real models (descriptions, variant spellings, echoes of the prompt, placeholders) \
         and know what each line really names, so items are counted as *true distinct \
         items* of their world; *unique keys* is what the coordinator's dedup counted.\n",
        p.date, p.machine, p.command, r.fleet.workers, r.fleet.slots, r.fleet.topic, s.seeds
    );
    providers(&mut out, r.fleet);
    yields(&mut out, r.yields);
    alone(&mut out, r.alone);
    regret(&mut out, r.regret);
    move_away(&mut out, r.move_away, s);
    batch(&mut out, r.batch, s);
    targets(&mut out, r);
    out
}

fn providers(out: &mut String, fleet: &Fleet) {
    let c = &fleet.providers[0].config;
    let _ = writeln!(
        out,
        "The providers: `sim` models of one world (seed {}, {} sub-categories per node, {} \
         levels: {} leaves), differing in quality, price, speed and failures \
         (see the README's sim model).\n",
        c.seed,
        c.fanout,
        c.depth,
        u64::from(c.fanout).pow(c.depth)
    );
    let _ = writeln!(
        out,
        "| provider | knows (items) | zipf_s | category_s | partition obedience | avoid obedience | $/M in | $/M out | median latency | failures | 429s | descriptions | variants | echoes | placeholders | partition sense | invented (1st → 20th item) |"
    );
    let _ = writeln!(
        out,
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for p in &fleet.providers {
        let c = &p.config;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} ms | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {} | {:.0}% → {:.0}% |",
            p.name,
            c.universe,
            c.zipf_s,
            c.category_s,
            c.partition_obedience,
            c.avoid_obedience,
            c.price_in_per_m,
            c.price_out_per_m,
            c.latency_ms,
            c.failure_rate * 100.0,
            c.rate_limit_rate * 100.0,
            c.description_rate * 100.0,
            c.variant_rate * 100.0,
            c.echo_rate * 100.0,
            c.placeholder_rate * 100.0,
            c.partition_sense,
            c.invention_rate * 100.0,
            (c.invention_rate * (1.0 + c.invention_growth * 19.0 / 20.0)).min(MAX_INVENTION)
                * 100.0
        );
    }
    let _ = writeln!(
        out,
        "\nDescriptions and variants are shares of lines, echoes and placeholders chances \
         per answer; partition sense is the share of named sub-categories that are real; \
         invented is the chance an item is made up at the top and at the 20th item of an \
         answer on the plain topic (more under narrow partitions, with avoid lists and once \
         a model has said what it knows of a sub-category).\n"
    );
}

fn yields(out: &mut String, rows: &[YieldRow]) {
    let _ = writeln!(
        out,
        "### True distinct items at equal tokens\n\nEach strategy alone and all together \
         against naive (one fixed prompt, uniform weights, no hints, no partitions), at three \
         token budgets from unsaturated to saturating. *Inflation* = unique keys ÷ true \
         distinct items; *junk* = stored keys that are no item (echoes, placeholders); \
         *described* = stored keys of an item that kept its description; *invented* = \
         stored keys of an item the model made up (spelled like one, of nothing in the \
         world); *wrong merges* = \
         real items that fell into another real item's key.\n"
    );
    let _ = writeln!(
        out,
        "| strategy | budget (tokens) | unique keys | true distinct | inflation | junk | described | invented | wrong merges | spent | distinct / 1k tokens | distinct / $ | × naive per token | × naive per $ |"
    );
    let _ = writeln!(
        out,
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let mut budgets: Vec<u64> = rows.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    for budget in budgets {
        for r in rows.iter().filter(|r| r.budget == budget) {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | ${:.3} | {:.1} | {:.0} | {:.2}× | {:.2}× |",
                r.strategy,
                thousands(budget),
                r.unique,
                r.distinct,
                r.inflation,
                r.junk,
                r.described,
                r.invented,
                r.wrong_merges,
                r.usd,
                r.per_1k_tokens,
                r.per_usd,
                r.x_tokens,
                r.x_usd
            );
        }
    }
    out.push('\n');
}

fn alone(out: &mut String, rows: &[Alone]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### One model alone: every strategy against none\n\nThe whole fleet on one model, \
         all strategies on against all off, compared at the same spend (the smaller of the \
         two runs' spends). A strategy that does not pay on a model (partitions on a model \
         whose sub-categories are nonsense) should switch itself off: target ≥ 0.9×.\n"
    );
    let _ = writeln!(
        out,
        "| model | at | none: true distinct (keys) | all: true distinct (keys) | all ÷ none |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | ${:.3} | {:.0} ({:.0}) | {:.0} ({:.0}) | {:.2}× |",
            r.model, r.usd, r.naive, r.naive_keys, r.all, r.all_keys, r.x
        );
    }
    out.push('\n');
}

fn batch(out: &mut String, rows: &[BatchRow], s: &Settings) {
    if rows.is_empty() {
        return;
    }
    let m = &s.batch_mode;
    let _ = writeln!(
        out,
        "### Batch or live: one model at the same budget\n\nThe fleet on `{}` alone: live; \
         through its vendor's batch API alone (`{}-batch`, at half the price); and both, \
         the bandit weighing them on valid items per dollar and the weights splitting \
         each worker's turns between live calls and batch requests. All strategies on. A \
         batch holds {} requests (or what {} s of turns drew), each worker has up to {} \
         in flight, and the vendor answers {} minutes after submission, every answer of a \
         batch at once. *Distinct* are true distinct items of the sim's world (invented \
         ones excluded); *batch share* is the share of answers that came out of \
         batches.\n",
        s.batch_model,
        s.batch_model,
        m.size,
        m.fill.as_secs(),
        m.max_in_flight,
        m.turnaround_ms / 60_000
    );
    let _ = writeln!(
        out,
        "| mode | budget | true distinct | invented keys | distinct / $ | × live per $ | batch share | hours to spend |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | ${:.2} | {:.0} | {:.0} | {:.0} | {:.2}× | {:.0}% | {:.2} |",
            r.mode,
            r.usd,
            r.distinct,
            r.invented,
            r.per_usd,
            r.x_live,
            r.batch_share * 100.0,
            r.hours
        );
    }
    out.push('\n');
}

fn regret(out: &mut String, rows: &[Regret]) {
    let Some(first) = rows.first() else { return };
    let _ = writeln!(
        out,
        "### Weight regret\n\nThe learned weights against every fixed allocation of call \
         shares in steps of a quarter ({} allocations, single providers included), all with \
         partitions and avoid hints on, compared in true distinct items at equal dollars: \
         regret = (best fixed in hindsight − learned) / best fixed.\n",
        first.allocations
    );
    let _ = writeln!(
        out,
        "| budget | learned weights | best fixed allocation | best single provider | uniform | regret |"
    );
    let _ = writeln!(out, "|--:|--:|---|---|--:|--:|");
    for r in rows {
        let allocation: Vec<String> = r
            .best_allocation
            .iter()
            .map(|(n, w)| format!("{n} {:.0}%", w * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "| ${:.2} | {:.0} | {:.0} ({}) | {:.0} ({}) | {:.0} | {:.1}% |",
            r.usd,
            r.learned,
            r.best,
            allocation.join(", "),
            r.best_single.1,
            r.best_single.0,
            r.uniform,
            r.regret * 100.0
        );
    }
    out.push('\n');
}

fn move_away(out: &mut String, rows: &[MoveAway], s: &Settings) {
    let _ = writeln!(
        out,
        "### Moving away from a degrading provider\n\nAll strategies on; at {} s the \
         provider weighted highest degrades. Time until its weight is at most half of what \
         it was (weights are published at most once a second).\n",
        s.degrade_at_s
    );
    let _ = writeln!(
        out,
        "| degradation | run | provider | weight then | seconds to halve |"
    );
    let _ = writeln!(out, "|---|--:|---|--:|--:|");
    for m in rows {
        for (i, (name, weight, seconds)) in m.runs.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {} |",
                m.how.label(),
                i + 1,
                name,
                weight,
                seconds.map_or_else(|| "never".to_string(), |s| format!("{s:.0}"))
            );
        }
    }
    out.push('\n');
}

fn targets(out: &mut String, r: &Results) {
    let saturating = r.yields.iter().map(|y| y.budget).max().unwrap_or(0);
    let all = r
        .yields
        .iter()
        .find(|y| y.strategy == "all" && y.budget == saturating);
    let worst_regret = r.regret.iter().map(|g| g.regret).fold(0.0, f64::max);
    let worst_move = r
        .move_away
        .iter()
        .map(MoveAway::worst)
        .try_fold(0.0, |acc: f64, s| s.map(|s| acc.max(s)));
    let mark = |ok: bool| if ok { "met" } else { "missed" };
    let _ = writeln!(out, "### Targets\n");
    if let Some(all) = all {
        let _ = writeln!(
            out,
            "- All strategies ≥ 3× naive at the saturating budget ({} tokens): {:.2}× per \
             dollar ({}), {:.2}× per token ({}).",
            thousands(saturating),
            all.x_usd,
            mark(all.x_usd >= 3.0),
            all.x_tokens,
            mark(all.x_tokens >= 3.0)
        );
        let row = |name: &str| {
            r.yields
                .iter()
                .find(|y| y.strategy == name && y.budget == saturating)
        };
        if all.x_tokens < 3.0
            && let (Some(w), Some(p), Some(n)) = (row("weights"), row("partitions"), row("naive"))
        {
            let _ = writeln!(
                out,
                "  What bounds it per token: the weights score providers by unique keys per \
                 dollar, and the cheapest model is also the weakest and the untidiest, so they \
                 buy its cheap tokens, which find fewer true items each and more spellings of \
                 the same ones: weights alone give {:.2}× naive per token and {:.2}× per dollar \
                 with {:.2} keys per true item (naive {:.2}), while partitions alone give \
                 {:.2}× per token; together {:.2}× per token at {:.0}% of naive's spend.",
                w.x_tokens,
                w.x_usd,
                w.inflation,
                n.inflation,
                p.x_tokens,
                all.x_tokens,
                ratio_pct(all.usd, n.usd)
            );
        }
    }
    let _ = writeln!(
        out,
        "- Weight regret ≤ 10%: worst {:.1}% ({}).",
        worst_regret * 100.0,
        mark(worst_regret <= 0.10)
    );
    let _ = writeln!(
        out,
        "- Weights move away from a degrading provider within 30 s: worst {} ({}).",
        worst_move.map_or_else(|| "never".to_string(), |s| format!("{s:.0} s")),
        mark(worst_move.is_some_and(|s| s <= 30.0))
    );
}

fn ratio_pct(a: f64, b: f64) -> f64 {
    if b > 0.0 { 100.0 * a / b } else { 0.0 }
}

/// 3000000 → "3,000,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut rest = digits.as_str();
    let mut groups = Vec::new();
    while rest.len() > 3 {
        let (head, tail) = rest.split_at(rest.len() - 3);
        groups.push(tail);
        rest = head;
    }
    groups.push(rest);
    groups.reverse();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(3_000_000), "3,000,000");
    }
}

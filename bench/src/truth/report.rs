//! The truth benchmark's tables, printed and recorded in `BENCHMARKS.md`
//! between `<!-- truth:begin -->` and `<!-- truth:end -->`.

use std::fmt::Write as _;

use super::run::{Collected, Judged, Line, Strategy};
use super::score::{BUCKETS, Cell, Reached, Score, by_position};
use super::universe::Universe;

pub const BEGIN: &str = "<!-- truth:begin -->";
pub const END: &str = "<!-- truth:end -->";

/// Non-member lines shown per run.
const SHOWN: usize = 8;

/// One universe × strategy.
pub struct Outcome {
    pub universe: Universe,
    pub strategy: Strategy,
    pub run: Collected,
    pub judged: Judged,
    pub score: Score,
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn reached(r: Option<Reached>) -> String {
    match r {
        Some(r) => format!("{} tok / ${:.5}", r.tokens, r.cost_usd),
        None => "not reached".to_string(),
    }
}

/// The table of stored lines against the universe.
pub fn stored_table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| universe (members) | strategy | calls | tokens (in + out) | cost | stored lines | recall | precision | another spelling | duplicates dedup missed | Chao1 estimate (true size) | to 50% recall | to 90% recall |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for o in outcomes {
        let (r, s) = (&o.run, &o.score);
        let estimate = r.estimate.as_ref().map_or("none".to_string(), |e| {
            format!("{:.0} ({})", e.total, s.size)
        });
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} ({} + {}) | ${:.5} | {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
            o.universe.name,
            s.size,
            o.strategy.name(),
            r.calls,
            r.tokens_in + r.tokens_out,
            r.tokens_in,
            r.tokens_out,
            r.cost_usd,
            s.stored,
            pct(s.recall()),
            s.members,
            pct(s.precision()),
            s.alias_lines,
            s.missed_duplicates,
            estimate,
            reached(s.reached_50),
            reached(s.reached_90),
        );
    }
    out
}

/// The table of the judge's verdicts on the stored lines.
pub fn judge_table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| universe | strategy | judged yes / no / unsure | precision before → after the judge | real lines kept | false accepts | false rejects | members judged unsure | judge calls (failed, without a label, labels ≠ lines) | judge tokens (in + out) | judge cost | judge time (lines/s) |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let (s, j) = (&o.score, &o.judged);
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} / {} | {} → {} | {} | {} | {} | {} | {} ({}, {}, {}) | {} ({} + {}) | ${:.5} | {:.0} s ({:.2}) |",
            o.universe.name,
            o.strategy.name(),
            s.judge.yes,
            s.judge.no,
            s.judge.unsure,
            pct(s.precision()),
            pct(s.precision_after_judge()),
            pct(s.real_kept()),
            s.judge.false_accepts,
            s.judge.false_rejects,
            s.judge.unsure_members,
            j.calls,
            j.failed_calls,
            j.unlabelled_calls,
            j.miscounted_calls,
            j.tokens_in + j.tokens_out,
            j.tokens_in,
            j.tokens_out,
            j.cost_usd,
            j.seconds,
            o.run.stored.len() as f64 / j.seconds.max(1e-9),
        );
    }
    out
}

/// The share of non-member answer lines by position, for each kind of
/// prompt, over every universe: what the sim's answers must imitate.
pub fn position_table(outcomes: &[Outcome]) -> String {
    type Keep = fn(&Line) -> bool;
    let conditions: [(&str, Keep); 5] = [
        ("every answer line", |_| true),
        ("no partition, no avoid list", |l| !l.partition && !l.avoid),
        ("partition, no avoid list", |l| l.partition && !l.avoid),
        ("partition and avoid list", |l| l.partition && l.avoid),
        ("avoid list, no partition", |l| !l.partition && l.avoid),
    ];
    let mut out = String::from("| prompt |");
    for (_, _, label) in BUCKETS {
        let _ = write!(out, " items {label} |");
    }
    out.push_str(" all positions |\n|---|");
    out.push_str(&"---:|".repeat(BUCKETS.len() + 1));
    out.push('\n');
    for (name, keep) in conditions {
        let mut cells = vec![Cell::default(); BUCKETS.len()];
        for o in outcomes {
            for (sum, c) in cells
                .iter_mut()
                .zip(by_position(&o.universe, &o.run.lines, keep))
            {
                sum.non_members += c.non_members;
                sum.lines += c.lines;
            }
        }
        let total = Cell {
            non_members: cells.iter().map(|c| c.non_members).sum(),
            lines: cells.iter().map(|c| c.lines).sum(),
        };
        if total.lines == 0 {
            continue;
        }
        let _ = write!(out, "| {name} |");
        for c in cells.iter().chain(std::iter::once(&total)) {
            if c.lines == 0 {
                out.push_str(" – |");
            } else {
                let _ = write!(out, " {} of {} |", pct(c.share()), c.lines);
            }
        }
        out.push('\n');
    }
    out
}

/// The same shares per universe and strategy (every position together, and
/// the first five against the rest).
pub fn position_by_run(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| universe | strategy | answer lines | non-members | items 1-5 | items 6+ | partitions asked for |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for o in outcomes {
        let cells = by_position(&o.universe, &o.run.lines, |_| true);
        let first = cells[0];
        let rest = Cell {
            non_members: cells[1..].iter().map(|c| c.non_members).sum(),
            lines: cells[1..].iter().map(|c| c.lines).sum(),
        };
        let all = Cell {
            non_members: first.non_members + rest.non_members,
            lines: first.lines + rest.lines,
        };
        let parts = if o.run.partitions.is_empty() {
            "–".to_string()
        } else {
            o.run.partitions.join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            o.universe.name,
            o.strategy.name(),
            all.lines,
            pct(all.share()),
            pct(first.share()),
            pct(rest.share()),
            parts.replace('|', "/"),
        );
    }
    out
}

/// A few stored non-member lines per run, as the model wrote them.
pub fn non_members(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let s = &o.score;
        let total = s.stored - s.member_lines;
        if total == 0 {
            continue;
        }
        let shown: Vec<String> = s
            .non_members
            .iter()
            .take(SHOWN)
            .map(|l| format!("`{}`", l.replace('`', "'")))
            .collect();
        let _ = writeln!(
            out,
            "- {} / {}: {} non-member lines, {} of them not judged yes: {}",
            o.universe.name,
            o.strategy.name(),
            total,
            s.non_members.len(),
            if shown.is_empty() {
                "–".to_string()
            } else {
                shown.join(", ")
            }
        );
    }
    out
}

/// The judge's first answer in each run, as the model wrote it.
pub fn judge_samples(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        if let Some(sample) = &o.judged.sample {
            let quoted: String = sample.chars().take(300).collect();
            let _ = writeln!(
                out,
                "- {} / {}: `{}`",
                o.universe.name,
                o.strategy.name(),
                quoted.replace('`', "'").replace('\n', "⏎ ")
            );
        }
    }
    out
}

/// Every stored line of a run, one per line: its number, the line, the
/// member it names (`-` for none, `~` before a member named by an alias)
/// and the judge's verdict; tab-separated, for checking the tables.
pub fn stored_lines(o: &Outcome) -> String {
    let mut out = String::from("line\tstored\tmember\tverdict\n");
    for (n, line) in o.run.stored.iter().enumerate() {
        let member = match o.universe.find(line) {
            super::universe::Match::Name(i) => o.universe.members[i].name.clone(),
            super::universe::Match::Alias(i) => format!("~{}", o.universe.members[i].name),
            super::universe::Match::None => "-".to_string(),
        };
        let verdict = o
            .judged
            .verdicts
            .get(n)
            .map_or("-".to_string(), |v| format!("{v:?}"));
        let _ = writeln!(
            out,
            "{}\t{}\t{member}\t{verdict}",
            n + 1,
            line.replace('\t', " ")
        );
    }
    out
}

//! What a run's stored list and the judge's verdicts are worth against the
//! universe: recall, precision before and after the judge, the judge's
//! mistakes, the duplicates dedup missed, the spend to reach a recall, and
//! the share of non-members by position in an answer.
//!
//! Pure: values in, numbers out.

use std::collections::HashSet;

use igentai_protocol::Answer;

use super::run::{Collected, Judged, Line};
use super::universe::{Match, Universe};

/// Positions in an answer, for the share of non-members.
pub const BUCKETS: &[(usize, usize, &str)] = &[
    (1, 5, "1-5"),
    (6, 10, "6-10"),
    (11, 20, "11-20"),
    (21, usize::MAX, "21+"),
];

/// The spend at which a run first reached a recall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reached {
    pub tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Score {
    pub size: usize,
    pub stored: usize,
    /// Stored lines naming a member (by its name or an alias).
    pub member_lines: usize,
    /// Of those, lines naming it by an alias.
    pub alias_lines: usize,
    /// Distinct members named.
    pub members: usize,
    /// Lines naming a member another line already named.
    pub missed_duplicates: usize,
    pub reached_50: Option<Reached>,
    pub reached_90: Option<Reached>,
    pub judge: JudgeScore,
    /// Non-member lines that were not judged Yes: what precision after the
    /// judge leaves out, listed for the reader.
    pub non_members: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct JudgeScore {
    pub yes: usize,
    pub no: usize,
    pub unsure: usize,
    /// Judged Yes and a member.
    pub true_accepts: usize,
    /// Judged Yes, not a member.
    pub false_accepts: usize,
    /// Judged No, a member.
    pub false_rejects: usize,
    /// Members judged Unsure.
    pub unsure_members: usize,
}

impl Score {
    pub fn recall(&self) -> f64 {
        ratio(self.members, self.size)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.member_lines, self.stored)
    }

    /// Lines judged Yes that are members, among the lines judged Yes.
    pub fn precision_after_judge(&self) -> f64 {
        self.judge.precision()
    }

    /// Member lines the judge kept (judged Yes).
    pub fn real_kept(&self) -> f64 {
        self.judge.kept(self.member_lines)
    }
}

impl JudgeScore {
    /// Counts one verdict on a line that is (or is not) a member.
    pub fn tally(&mut self, member: bool, verdict: Answer) {
        match verdict {
            Answer::Yes => {
                self.yes += 1;
                if member {
                    self.true_accepts += 1;
                } else {
                    self.false_accepts += 1;
                }
            }
            Answer::No => {
                self.no += 1;
                if member {
                    self.false_rejects += 1;
                }
            }
            Answer::Unsure => {
                self.unsure += 1;
                if member {
                    self.unsure_members += 1;
                }
            }
        }
    }

    /// Lines judged Yes that are members, among the lines judged Yes.
    pub fn precision(&self) -> f64 {
        ratio(self.true_accepts, self.yes)
    }

    /// Of `members` member lines, the share judged Yes.
    pub fn kept(&self, members: usize) -> f64 {
        ratio(self.true_accepts, members)
    }
}

/// The judge's verdicts on `lines` (one each) against the universe.
pub fn judge_score(universe: &Universe, lines: &[String], verdicts: &[Answer]) -> JudgeScore {
    let mut j = JudgeScore::default();
    for (line, verdict) in lines.iter().zip(verdicts) {
        j.tally(universe.find(line).member().is_some(), *verdict);
    }
    j
}

pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Scores a run's stored list and its verdicts (one per stored line).
pub fn score(universe: &Universe, run: &Collected, judged: &Judged) -> Score {
    let mut s = Score {
        size: universe.len(),
        stored: run.stored.len(),
        ..Score::default()
    };
    let mut named = HashSet::new();
    // The distinct members among the first n stored lines, for each n.
    let mut named_by_line = Vec::with_capacity(run.stored.len() + 1);
    named_by_line.push(0);
    for (line, verdict) in run.stored.iter().zip(
        judged
            .verdicts
            .iter()
            .copied()
            .chain(std::iter::repeat(Answer::Unsure)),
    ) {
        let found = universe.find(line);
        if let Match::Alias(_) = found {
            s.alias_lines += 1;
        }
        match found.member() {
            Some(m) => {
                s.member_lines += 1;
                if !named.insert(m) {
                    s.missed_duplicates += 1;
                }
            }
            None => {
                if verdict != Answer::Yes {
                    s.non_members.push(line.clone());
                }
            }
        }
        named_by_line.push(named.len());
        s.judge.tally(found.member().is_some(), verdict);
    }
    s.members = named.len();
    let reached = |share: f64| {
        let want = (share * universe.len() as f64).ceil() as usize;
        run.points
            .iter()
            .find(|p| named_by_line[p.stored] >= want)
            .map(|p| Reached {
                tokens: p.tokens,
                cost_usd: p.cost_usd,
            })
    };
    s.reached_50 = reached(0.5);
    s.reached_90 = reached(0.9);
    s
}

/// Non-member lines and all lines in one cell of the position table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub non_members: usize,
    pub lines: usize,
}

impl Cell {
    pub fn share(&self) -> f64 {
        ratio(self.non_members, self.lines)
    }
}

/// The share of non-member lines by position bucket ([`BUCKETS`]), over
/// the answer lines `keep` selects.
pub fn by_position(universe: &Universe, lines: &[Line], keep: impl Fn(&Line) -> bool) -> Vec<Cell> {
    let mut cells = vec![Cell::default(); BUCKETS.len()];
    for line in lines.iter().filter(|l| keep(l)) {
        let Some(b) = BUCKETS
            .iter()
            .position(|(lo, hi, _)| (*lo..=*hi).contains(&line.position))
        else {
            continue;
        };
        cells[b].lines += 1;
        if universe.find(&line.item).member().is_none() {
            cells[b].non_members += 1;
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::run::Point;

    fn universe() -> Universe {
        Universe::parse("t", "topic: US states\nOhio | OH\nUtah | UT\nIowa\nTexas\n").unwrap()
    }

    #[test]
    fn scores_a_stored_list() {
        let run = Collected {
            stored: ["Ohio", "Utah", "OH", "Narnia", "Iowa"]
                .map(String::from)
                .to_vec(),
            points: vec![
                Point {
                    tokens: 100,
                    cost_usd: 0.1,
                    stored: 2,
                },
                Point {
                    tokens: 200,
                    cost_usd: 0.2,
                    stored: 5,
                },
            ],
            ..Collected::default()
        };
        let judged = Judged {
            verdicts: vec![
                Answer::Yes,
                Answer::No,
                Answer::Yes,
                Answer::Yes,
                Answer::Unsure,
            ],
            ..Judged::default()
        };
        let s = score(&universe(), &run, &judged);
        assert_eq!(
            (s.size, s.stored, s.member_lines, s.alias_lines),
            (4, 5, 4, 1)
        );
        assert_eq!((s.members, s.missed_duplicates), (3, 1));
        assert_eq!(s.recall(), 0.75);
        assert_eq!(s.precision(), 0.8);
        let j = s.judge;
        assert_eq!((j.yes, j.no, j.unsure), (3, 1, 1));
        assert_eq!(
            (
                j.true_accepts,
                j.false_accepts,
                j.false_rejects,
                j.unsure_members
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(s.precision_after_judge(), 2.0 / 3.0);
        assert_eq!(s.real_kept(), 0.5);
        assert_eq!(
            s.reached_50,
            Some(Reached {
                tokens: 100,
                cost_usd: 0.1
            })
        );
        assert_eq!(s.reached_90, None);
        assert!(s.non_members.is_empty(), "Narnia was judged Yes");
    }

    #[test]
    fn positions() {
        let line = |position, item: &str, partition| Line {
            position,
            partition,
            avoid: false,
            item: item.into(),
        };
        let lines = [
            line(1, "Ohio", false),
            line(2, "Narnia", false),
            line(7, "Oz", false),
            line(12, "Utah", true),
            line(25, "Mordor", false),
        ];
        let cells = by_position(&universe(), &lines, |l| !l.partition);
        assert_eq!(
            cells,
            [
                Cell {
                    non_members: 1,
                    lines: 2
                },
                Cell {
                    non_members: 1,
                    lines: 1
                },
                Cell::default(),
                Cell {
                    non_members: 1,
                    lines: 1
                },
            ]
        );
    }
}

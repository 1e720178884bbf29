//! What a model server did in a measurement window, seen from its
//! clients: the calls answered in it, their tokens, and how long no call
//! was open (the server had nothing to do).
//!
//! Pure. The rate runs from the first answer in the window to the last and
//! counts the tokens of the answers after the first, so a window starts
//! and ends on an answer: no call is cut in two, and a bare load generator
//! and the fleet are measured alike however their calls fall.

/// One answered call: when it was sent and answered (unix ms, one clock
/// for every process of the machine) and the usage the server reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub sent_ms: u64,
    pub done_ms: u64,
    pub tokens_in: u64,
    /// Of `tokens_in`, those the server said it read from its prompt cache.
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
}

/// The calls answered between two answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Calls answered after the window's first answer, up to its last.
    pub calls: usize,
    pub seconds: f64,
    pub tokens_in: u64,
    pub tokens_cached_in: u64,
    pub tokens_out: u64,
    /// Share of the window in which no call was open.
    pub idle_share: f64,
}

impl Window {
    /// The window of `calls` answered within `[from_ms, to_ms]`; `None`
    /// when fewer than two were (or they were answered at once).
    pub fn of(calls: &[Call], from_ms: u64, to_ms: u64) -> Option<Window> {
        let mut inside: Vec<&Call> = calls
            .iter()
            .filter(|c| (from_ms..=to_ms).contains(&c.done_ms))
            .collect();
        inside.sort_by_key(|c| c.done_ms);
        let (first, last) = (inside.first()?.done_ms, inside.last()?.done_ms);
        if last <= first {
            return None;
        }
        let counted = &inside[1..];
        let sum = |f: fn(&Call) -> u64| counted.iter().map(|c| f(c)).sum::<u64>();
        let span = (last - first) as f64;
        Some(Window {
            calls: counted.len(),
            seconds: span / 1000.0,
            tokens_in: sum(|c| c.tokens_in),
            tokens_cached_in: sum(|c| c.tokens_cached_in),
            tokens_out: sum(|c| c.tokens_out),
            idle_share: 1.0 - open_ms(calls, first, last) as f64 / span,
        })
    }

    pub fn out_per_s(&self) -> f64 {
        self.tokens_out as f64 / self.seconds
    }

    pub fn in_per_s(&self) -> f64 {
        self.tokens_in as f64 / self.seconds
    }

    pub fn out_per_call(&self) -> f64 {
        self.tokens_out as f64 / self.calls as f64
    }

    /// Of the input tokens, the share the server reported cached.
    pub fn cached_share(&self) -> f64 {
        if self.tokens_in == 0 {
            0.0
        } else {
            self.tokens_cached_in as f64 / self.tokens_in as f64
        }
    }
}

/// How long within `[from, to]` at least one of `calls` was open.
fn open_ms(calls: &[Call], from: u64, to: u64) -> u64 {
    let mut spans: Vec<(u64, u64)> = calls
        .iter()
        .map(|c| (c.sent_ms.max(from), c.done_ms.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let (mut open, mut reached) = (0, from);
    for (a, b) in spans {
        if b > reached {
            open += b - a.max(reached);
            reached = b;
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(sent_ms: u64, done_ms: u64, tokens_out: u64) -> Call {
        Call {
            sent_ms,
            done_ms,
            tokens_in: 10,
            tokens_cached_in: 0,
            tokens_out,
        }
    }

    fn check(calls: &[Call], from: u64, to: u64, expected: Option<(usize, f64, u64, f64)>) {
        let round = |x: f64| (x * 1e6).round() / 1e6;
        let got = Window::of(calls, from, to)
            .map(|w| (w.calls, w.seconds, w.tokens_out, round(w.idle_share)));
        assert_eq!(got, expected, "{calls:?} in [{from}, {to}]");
    }

    #[test]
    fn counts_from_the_first_answer_to_the_last() {
        // One call at a time, 100 ms apart: the first answer opens the
        // window, its tokens were made before it.
        let one_at_a_time = [
            call(0, 1000, 50),
            call(1100, 2000, 40),
            call(2100, 3000, 30),
        ];
        check(&one_at_a_time, 0, 5000, Some((2, 2.0, 70, 0.1)));
        // Answers outside the window are left out; calls still open in it
        // still count as open.
        check(&one_at_a_time, 1500, 5000, Some((1, 1.0, 30, 0.1)));
        // Two calls always open: never idle.
        let queued = [
            call(0, 1000, 50),
            call(0, 2000, 40),
            call(1000, 3000, 30),
            call(2000, 4000, 20),
        ];
        check(&queued, 0, 5000, Some((3, 3.0, 90, 0.0)));
        // Fewer than two answers make no window.
        check(&queued, 2500, 3500, None);
        check(&[], 0, 1, None);
        check(&[call(0, 1000, 5), call(0, 1000, 5)], 0, 2000, None);
    }

    #[test]
    fn open_time_is_the_union_of_the_calls() {
        let calls = [
            call(0, 10, 1),
            call(5, 20, 1),
            call(30, 40, 1),
            call(32, 35, 1),
        ];
        assert_eq!(open_ms(&calls, 0, 50), 30);
        assert_eq!(open_ms(&calls, 8, 33), 15);
        assert_eq!(open_ms(&calls, 21, 29), 0);
    }

    #[test]
    fn cached_share_of_the_input() {
        let mut calls = vec![call(0, 1000, 5), call(0, 2000, 5)];
        calls[1].tokens_cached_in = 4;
        let w = Window::of(&calls, 0, 2000).unwrap();
        assert_eq!(w.cached_share(), 0.4);
        assert_eq!(w.out_per_s(), 5.0);
        assert_eq!(w.in_per_s(), 10.0);
    }
}

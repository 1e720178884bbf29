//! How often the sim makes an item up. Real small models invent: the
//! first items of a list are the famous ones and the tail is made up, a
//! narrow sub-category exhausts what they know, and an avoid list (told
//! not to repeat what it knows) pushes them to invent. The chance of each
//! slot of an answer follows those three, plus how much of what the model
//! knows of the prompt's node the answer already holds. Pure.

use super::knobs::SimConfig;

/// The most an item's chance of being invented can reach: a model always
/// says some of what it knows.
pub const MAX_INVENTION: f64 = 0.9;

/// Avoid hints counted towards the chance; longer lists add no more.
pub const AVOID_FULL: usize = 20;

/// Where a slot of an answer stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Its position in the answer, from 0.
    pub position: usize,
    /// Depth of the prompt's partition node (0: the whole topic).
    pub depth: u32,
    /// Avoid hints in the prompt.
    pub hints: usize,
    /// Share of the items the model knows under the prompt's node that
    /// the answer already holds (1 when it knows none there).
    pub exhausted: f64,
}

/// The chance the item in `slot` is invented: `invention_rate` growing
/// with the position, times the partition's and the avoid list's
/// multipliers, plus the exhausted share of the rest; at most
/// [`MAX_INVENTION`], and 0 for a model that never invents.
pub fn chance(config: &SimConfig, slot: Slot) -> f64 {
    if !config.invents() {
        return 0.0;
    }
    let position = 1.0 + config.invention_growth * slot.position as f64 / 20.0;
    let partition = 1.0 + config.invention_partition * f64::from(slot.depth);
    let hints = slot.hints.min(AVOID_FULL) as f64 / AVOID_FULL as f64;
    let avoid = 1.0 + config.invention_avoid * hints;
    let base = (config.invention_rate * position * partition * avoid).min(MAX_INVENTION);
    let exhausted = config.invention_exhausted * slot.exhausted.clamp(0.0, 1.0);
    (base + (1.0 - base) * exhausted).min(MAX_INVENTION)
}

/// The share of `known` items the answer already holds (1 when none are
/// known).
pub fn exhausted(said: usize, known: usize) -> f64 {
    match known {
        0 => 1.0,
        k => (said as f64 / k as f64).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: &SimConfig, slot: (usize, u32, usize, f64), expected: f64) {
        let (position, depth, hints, exhausted) = slot;
        let slot = Slot {
            position,
            depth,
            hints,
            exhausted,
        };
        let got = chance(config, slot);
        assert!(
            (got - expected).abs() < 1e-9,
            "{slot:?}: {got} != {expected}"
        );
    }

    #[test]
    fn chance_grows_with_position_depth_hints_and_exhaustion() {
        let c = SimConfig::default();
        check(&c, (0, 0, 0, 0.0), 0.1);
        check(&c, (19, 0, 0, 0.0), 0.1 * (1.0 + 2.5 * 19.0 / 20.0));
        check(&c, (0, 3, 0, 0.0), 0.175);
        check(&c, (0, 0, 20, 0.0), 0.15);
        check(&c, (0, 0, 200, 0.0), 0.15);
        check(&c, (0, 0, 10, 0.0), 0.125);
        check(&c, (0, 0, 0, 1.0), 0.1 + 0.9 * 0.5);
        check(&c, (20, 3, 20, 1.0), MAX_INVENTION);
        check(&c.clone().clean(), (19, 3, 20, 1.0), 0.0);
        assert_eq!(
            (exhausted(0, 0), exhausted(2, 4), exhausted(9, 4)),
            (1.0, 0.5, 1.0)
        );
    }
}

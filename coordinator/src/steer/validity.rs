//! What judges said of the new items of one provider, arm or partition:
//! the share that are valid, from verdicts that fade as newer ones come.
//!
//! Pure. Every steering decision that rewards new items (provider weights,
//! the arms, the partition tree) pays only for the valid share of them
//! once anything it steers is judged, so a source that invents loses even
//! when it is cheap and "unique".

/// Verdicts after which older verdicts count half: recent enough to follow
/// a source that changes, long enough to be measured.
pub const HALF_LIFE_VERDICTS: f64 = 200.0;

/// Decayed counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Validity {
    valid: f64,
    judged: f64,
}

impl Validity {
    /// One verdict: valid or not (`unsure` verdicts are not counted).
    pub fn observe(&mut self, valid: bool) {
        let keep = 0.5f64.powf(1.0 / HALF_LIFE_VERDICTS);
        self.valid = self.valid * keep + f64::from(u8::from(valid));
        self.judged = self.judged * keep + 1.0;
    }

    /// The share of new items that are valid, with one valid and one
    /// invalid verdict assumed before the first (so two sources start
    /// equal, and a few verdicts move it only so far).
    pub fn share(&self) -> f64 {
        (self.valid + 1.0) / (self.judged + 2.0)
    }

    /// Verdicts counted (decayed).
    pub fn judged(&self) -> f64 {
        self.judged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_starts_even_and_follows_the_verdicts() {
        let mut v = Validity::default();
        assert_eq!(v.share(), 0.5);
        for _ in 0..100 {
            v.observe(false);
        }
        assert!(v.share() < 0.02, "{}", v.share());
        // Newer verdicts outweigh older ones.
        for _ in 0..600 {
            v.observe(true);
        }
        assert!(v.share() > 0.9, "{}", v.share());
        assert!(v.judged() < 700.0);
    }
}

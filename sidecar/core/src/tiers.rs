//! Gift tiers by value (seed 002): small, medium, big, super.

use serde::{Deserialize, Serialize};

/// A gift's reward tier, 1 (small) to 4 (super).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    Small = 1,
    Medium = 2,
    Big = 3,
    Super = 4,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Small, Tier::Medium, Tier::Big, Tier::Super];

    pub fn number(self) -> u8 {
        self as u8
    }

    /// Index into per-tier tables (0-based).
    pub fn index(self) -> usize {
        self as usize - 1
    }
}

/// Upper bounds (inclusive, in fen) of tiers 1–3; anything above is tier 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierTable {
    upper_fen: [u64; 3],
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TierError {
    #[error("tier bounds must be positive and strictly increasing, got {0:?} yuan")]
    NotIncreasing([f64; 3]),
}

impl TierTable {
    /// From the upper bounds of tiers 1–3 in yuan (CNY), e.g. seed 002's `[1, 10, 100]`.
    pub fn from_yuan(bounds: [f64; 3]) -> Result<Self, TierError> {
        let ok = bounds[0] > 0.0
            && bounds[0] < bounds[1]
            && bounds[1] < bounds[2]
            && bounds[2].is_finite();
        if !ok {
            return Err(TierError::NotIncreasing(bounds));
        }
        Ok(Self {
            upper_fen: bounds.map(|y| (y * 100.0).round() as u64),
        })
    }

    /// Where a value sits in its tier, 0.0 (the tier's floor) to 1.0 (its ceiling): linear in
    /// tiers 1–3; in tier 4, which has no ceiling, on a log scale up to ten times its floor.
    /// A fact of a gift's dynamic priority (a bigger gift of the same tier comes a bit sooner).
    pub fn position_in_tier(&self, value_fen: u64) -> f32 {
        let [a, b, c] = self.upper_fen.map(|f| f as f64);
        let v = value_fen as f64;
        let position = match self.classify(value_fen) {
            Tier::Small => v / a,
            Tier::Medium => (v - a) / (b - a),
            Tier::Big => (v - b) / (c - b),
            Tier::Super => (v / c).log10(),
        };
        position.clamp(0.0, 1.0) as f32
    }

    pub fn classify(&self, value_fen: u64) -> Tier {
        match self.upper_fen.iter().position(|&upper| value_fen <= upper) {
            Some(0) => Tier::Small,
            Some(1) => Tier::Medium,
            Some(_) => Tier::Big,
            None => Tier::Super,
        }
    }
}

impl Default for TierTable {
    fn default() -> Self {
        Self {
            upper_fen: [100, 1_000, 10_000],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_tiers_split_at_1_10_100_yuan() {
        let t = TierTable::default();
        assert_eq!(t.classify(10), Tier::Small); // 1 diamond = 0.1 yuan
        assert_eq!(t.classify(100), Tier::Small);
        assert_eq!(t.classify(101), Tier::Medium);
        assert_eq!(t.classify(1_000), Tier::Medium);
        assert_eq!(t.classify(1_010), Tier::Big);
        assert_eq!(t.classify(10_000), Tier::Big);
        assert_eq!(t.classify(10_010), Tier::Super);
        assert_eq!(t.classify(u64::MAX), Tier::Super);
    }

    #[test]
    fn position_in_tier_runs_from_floor_to_ceiling() {
        let t = TierTable::default();
        assert_eq!(t.position_in_tier(100), 1.0);
        assert_eq!(t.position_in_tier(0), 0.0);
        assert!((t.position_in_tier(550) - 0.5).abs() < 1e-6);
        assert!(t.position_in_tier(1_010) < t.position_in_tier(9_000));
        assert!(
            (t.position_in_tier(31_623) - 0.5).abs() < 1e-3,
            "log scale above 100 yuan"
        );
        assert_eq!(t.position_in_tier(u64::MAX), 1.0);
    }

    #[test]
    fn configurable_bounds_are_validated() {
        assert_eq!(
            TierTable::from_yuan([5.0, 50.0, 500.0])
                .unwrap()
                .classify(600),
            Tier::Medium
        );
        assert!(TierTable::from_yuan([10.0, 10.0, 100.0]).is_err());
        assert!(TierTable::from_yuan([0.0, 1.0, 2.0]).is_err());
    }
}

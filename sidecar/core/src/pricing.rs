//! What a gift is worth, in one currency for every platform, so a tier means the same on
//! Douyin and Bilibili.
//!
//! Each adapter records what the platform charged in its own currency ([`Price`]: Douyin
//! diamonds, Bilibili gold or silver batteries, a Super Chat's yuan) and converts it with the
//! default rates into [`Gift::diamonds`], the show's unit (10 diamonds = 1 CNY). Before a gift
//! reaches the ledger, [`Pricing::apply`] re-converts it with `[gifts.rates]` (a streamer who
//! values silver batteries, or a platform that changed its rate) and then applies the per-gift
//! overrides of `[gifts.diamonds]`, which win over everything.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::event::{Currency, Price};
use crate::event::{EventKind, Gift, LiveEvent, FEN_PER_DIAMOND};

/// `[gifts.rates]`: yuan per unit of each currency.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rates {
    pub douyin_diamond: f64,
    pub bilibili_gold: f64,
    pub bilibili_silver: f64,
    pub cny: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            douyin_diamond: 0.1,
            bilibili_gold: 0.001,
            bilibili_silver: 0.0,
            cny: 1.0,
        }
    }
}

impl Rates {
    pub fn yuan_per_unit(&self, currency: Currency) -> f64 {
        match currency {
            Currency::DouyinDiamond => self.douyin_diamond,
            Currency::BilibiliGold => self.bilibili_gold,
            Currency::BilibiliSilver => self.bilibili_silver,
            Currency::Cny => self.cny,
        }
    }

    /// `price` in the show's diamonds (rounded to the nearest; never negative).
    pub fn diamonds(&self, price: Price) -> u64 {
        let fen = price.amount as f64 * self.yuan_per_unit(price.currency) * 100.0;
        (fen / FEN_PER_DIAMOND as f64).round().max(0.0) as u64
    }

    /// Every rate must be a finite number of yuan, 0 or more.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("douyin_diamond", self.douyin_diamond),
            ("bilibili_gold", self.bilibili_gold),
            ("bilibili_silver", self.bilibili_silver),
            ("cny", self.cny),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "gifts.rates.{key} must be 0 or more yuan per unit, not {v}"
                ));
            }
        }
        Ok(())
    }
}

/// The rates and per-gift overrides, applied to every source's gifts before the ledger.
#[derive(Debug, Clone, Default)]
pub struct Pricing {
    pub rates: Rates,
    /// Diamonds per gift id (`[gifts.diamonds]`).
    pub overrides: BTreeMap<String, u64>,
}

impl Pricing {
    /// Nothing to do: default rates and no overrides (the adapters' own conversion stands).
    pub fn is_identity(&self) -> bool {
        self.overrides.is_empty() && self.rates == Rates::default()
    }

    pub fn apply(&self, events: &mut [LiveEvent]) {
        if self.is_identity() {
            return;
        }
        for event in events {
            if let EventKind::Gift(gift) = &mut event.kind {
                self.price(gift);
            }
        }
    }

    fn price(&self, gift: &mut Gift) {
        if let Some(diamonds) = self.overrides.get(&gift.gift_id) {
            gift.diamonds = *diamonds;
        } else if let Some(price) = gift.price {
            gift.diamonds = self.rates.diamonds(price);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift(id: &str, diamonds: u64, price: Option<Price>) -> LiveEvent {
        LiveEvent {
            platform: "bilibili".into(),
            msg_id: "m".into(),
            user: None,
            kind: EventKind::Gift(Gift {
                gift_id: id.into(),
                gift_name: "g".into(),
                diamonds,
                count: 1,
                combo: None,
                price,
                message: None,
            }),
        }
    }

    fn diamonds(event: &LiveEvent) -> u64 {
        match &event.kind {
            EventKind::Gift(g) => g.diamonds,
            _ => unreachable!(),
        }
    }

    #[test]
    fn default_rates_agree_with_the_adapters() {
        let r = Rates::default();
        let p = |currency, amount| r.diamonds(Price { currency, amount });
        assert_eq!(p(Currency::DouyinDiamond, 52), 52);
        assert_eq!(p(Currency::BilibiliGold, 1000), 10, "1000 gold = 1 CNY");
        assert_eq!(p(Currency::BilibiliSilver, 5000), 0);
        assert_eq!(p(Currency::Cny, 30), 300);
    }

    #[test]
    fn the_rate_table_reprices_and_overrides_win() {
        let pricing = Pricing {
            rates: Rates {
                bilibili_silver: 0.0001,
                ..Rates::default()
            },
            overrides: [("31036".to_string(), 77)].into(),
        };
        let silver = Price {
            currency: Currency::BilibiliSilver,
            amount: 1000,
        };
        let mut events = vec![gift("1", 0, Some(silver)), gift("31036", 5, Some(silver))];
        events.push(gift("2", 9, None));
        pricing.apply(&mut events);
        assert_eq!(
            diamonds(&events[0]),
            1,
            "1000 silver at 0.0001 yuan = 0.1 CNY"
        );
        assert_eq!(diamonds(&events[1]), 77);
        assert_eq!(
            diamonds(&events[2]),
            9,
            "no price recorded: left as the adapter said"
        );
        assert!(Rates {
            cny: -1.0,
            ..Rates::default()
        }
        .validate()
        .is_err());
    }
}

//! The figures of the staff's dashboard: UTC days, and the time from submission to a working
//! tenant kept as a histogram per day.

use std::collections::BTreeMap;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The ranges of days a dashboard offers, and the one it opens with.
pub const DAY_RANGES: [u16; 3] = [7, 30, 90];
pub const DEFAULT_DAYS: u16 = 30;
/// The longest range the figures are given for.
pub const MAX_DAYS: u16 = 366;

/// A number of days from 1 to [`MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("days must be a whole number from 1 to 366.")]
pub struct BadDayCount;

impl DayCount {
    pub fn new(days: i64) -> Result<Self, BadDayCount> {
        u16::try_from(days)
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .map(Self)
            .ok_or(BadDayCount)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for DayCount {
    fn default() -> Self {
        Self(DEFAULT_DAYS)
    }
}

impl std::str::FromStr for DayCount {
    type Err = BadDayCount;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.trim()
            .parse::<i64>()
            .map_err(|_| BadDayCount)
            .and_then(Self::new)
    }
}

/// A UTC day, counted from 1970-01-01 (day 0), as the daily figures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UtcDay(pub i64);

impl UtcDay {
    /// The day holding `ms` (epoch milliseconds), as the database divides it.
    pub fn of_ms(ms: i64) -> Self {
        Self(ms / DAY_MS)
    }

    /// The `days` days ending with (and including) the day of `now_ms`, oldest first.
    pub fn last(days: DayCount, now_ms: i64) -> std::ops::RangeInclusive<i64> {
        let today = Self::of_ms(now_ms).0;
        today - i64::from(days.get()) + 1..=today
    }

    /// The date, e.g. `2026-11-29`.
    pub fn date(self) -> String {
        jiff::Timestamp::from_second(self.0.saturating_mul(86_400))
            .map(|t| {
                t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .date()
                    .to_string()
            })
            .unwrap_or_default()
    }
}

/// A bucket of the time to a working tenant: the number of digits of the milliseconds times
/// 100, plus their first two digits rounded down to a step of 1 (10–19), 2 (20–49) or 5
/// (50–99): 1234 ms is 412, 3456 ms 434, 7890 ms 475, 7 ms 107. Buckets sort as the times do,
/// none is wider than a tenth of its times, and a decade has 35 of them. The database
/// computes the same number (migration 0024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeBucket(pub i64);

impl TimeBucket {
    pub fn of(ms: i64) -> Self {
        let digits = ms.max(0).to_string();
        let lead: i64 = digits[..digits.len().min(2)].parse().unwrap_or(0);
        let lead = lead - lead % step(lead);
        Self(i64::try_from(digits.len()).unwrap_or(0) * 100 + lead)
    }

    /// The least and the greatest time in the bucket, in milliseconds.
    pub fn range(self) -> (i64, i64) {
        let (digits, lead) = (self.0 / 100, self.0 % 100);
        if digits <= 1 {
            return (lead, lead);
        }
        let scale = 10_i64.saturating_pow(u32::try_from(digits - 2).unwrap_or(0));
        (
            lead.saturating_mul(scale),
            (lead + step(lead))
                .checked_mul(scale)
                .map_or(i64::MAX, |v| v - 1),
        )
    }

    /// The middle of the bucket: within 5% of every time in it.
    pub fn middle(self) -> i64 {
        let (low, high) = self.range();
        low + (high - low) / 2
    }
}

/// How far apart buckets starting with the two digits `lead` are: a tenth of the smallest.
fn step(lead: i64) -> i64 {
    match lead {
        ..20 => 1,
        20..50 => 2,
        _ => 5,
    }
}

/// How many requests took a time in each bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeHistogram(BTreeMap<TimeBucket, i64>);

impl TimeHistogram {
    pub fn add(&mut self, bucket: TimeBucket, requests: i64) {
        *self.0.entry(bucket).or_default() += requests;
    }

    /// Adds every bucket of `other` to this one.
    pub fn merge(&mut self, other: &TimeHistogram) {
        for (bucket, n) in &other.0 {
            self.add(*bucket, *n);
        }
    }

    pub fn total(&self) -> i64 {
        self.0.values().filter(|n| **n > 0).sum()
    }

    /// The `percent`-th percentile (1–100) by nearest rank, as the middle of its bucket;
    /// `None` without any time.
    pub fn percentile(&self, percent: i64) -> Option<i64> {
        let rank = nearest_rank(percent, self.total());
        let mut seen = 0;
        for (bucket, n) in &self.0 {
            seen += (*n).max(0);
            if seen >= rank && rank > 0 {
                return Some(bucket.middle());
            }
        }
        None
    }
}

/// The 1-based rank of the `percent`-th percentile among `total` values: ceil(percent × total
/// / 100), in whole numbers so that no rounding moves it.
pub fn nearest_rank(percent: i64, total: i64) -> i64 {
    (percent * total + 99) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sort_as_times_and_hold_their_times() {
        let mut last = TimeBucket::of(0);
        for ms in [
            0,
            1,
            9,
            10,
            11,
            99,
            100,
            119,
            120,
            999,
            1000,
            1234,
            86_400_000,
            i64::MAX,
        ] {
            let b = TimeBucket::of(ms);
            assert!(b >= last, "{ms}");
            let (low, high) = b.range();
            assert!(low <= ms && ms <= high, "{ms} in {low}..={high}");
            assert!(
                (high - low) * 10 <= low.max(9),
                "{ms}: {low}..={high} is too wide"
            );
            last = b;
        }
        assert_eq!(TimeBucket::of(1234).0, 412);
        assert_eq!(TimeBucket::of(3456).0, 434);
        assert_eq!(TimeBucket::of(7890).0, 475);
        assert_eq!(TimeBucket::of(7).0, 107);
        let mut decade = std::collections::BTreeSet::new();
        for ms in 1_000..10_000 {
            let b = TimeBucket::of(ms);
            let (low, high) = b.range();
            assert!(low <= ms && ms <= high && (high - low) * 10 <= low, "{ms}");
            decade.insert(b);
        }
        assert_eq!(decade.len(), 35);
        assert_eq!(TimeBucket::of(-5), TimeBucket::of(0));
    }

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let mut h = TimeHistogram::default();
        assert_eq!(h.percentile(50), None);
        for ms in [1_000, 2_000, 3_000, 4_000, 50_000] {
            h.add(TimeBucket::of(ms), 1);
        }
        assert_eq!(h.total(), 5);
        assert_eq!(h.percentile(50), Some(TimeBucket::of(3_000).middle()));
        assert_eq!(h.percentile(90), Some(TimeBucket::of(50_000).middle()));
        assert_eq!(h.percentile(20), Some(TimeBucket::of(1_000).middle()));
        let mut more = TimeHistogram::default();
        more.add(TimeBucket::of(50_000), 4);
        more.add(TimeBucket::of(90), 1);
        more.merge(&h);
        // 90, 1,000, 2,000, 3,000, 4,000 and five of 50,000: the median is the fifth.
        assert_eq!(more.total(), 10);
        assert_eq!(more.percentile(50), Some(TimeBucket::of(4_000).middle()));
        assert_eq!(more.percentile(10), Some(TimeBucket::of(90).middle()));
        // Ten values: the 90th percentile is the ninth.
        assert_eq!(nearest_rank(90, 10), 9);
        assert_eq!(nearest_rank(50, 3), 2);
        assert_eq!(nearest_rank(90, 1), 1);
        assert_eq!(nearest_rank(50, 0), 0);
        assert!((TimeBucket::of(3_000).middle() - 3_000).abs() * 20 <= 3_000);
    }

    #[test]
    fn days_are_checked_and_utc() {
        assert_eq!("30".parse::<DayCount>().map(DayCount::get), Ok(30));
        for bad in ["0", "367", "-1", "x", "", "1.5"] {
            assert_eq!(bad.parse::<DayCount>(), Err(BadDayCount), "{bad}");
        }
        assert_eq!(UtcDay(20_421).date(), "2025-11-29");
        // 2025-11-29T23:59:59.999Z and the next millisecond fall on two days.
        assert_eq!(UtcDay::of_ms(1_764_460_799_999), UtcDay(20_421));
        assert_eq!(UtcDay::of_ms(1_764_460_800_000), UtcDay(20_422));
        let days = UtcDay::last(DayCount::new(7).unwrap_or_default(), 1_764_460_800_000);
        assert_eq!(days, 20_416..=20_422);
    }
}

//! The provider's provisioning policy: run requests at once, or in an off-peak window given
//! as local start and end times in an IANA time zone (the window may cross midnight), with an
//! optional cap per window. All arithmetic goes through the time zone's rules, so windows on
//! days when the clocks change are as long as the wall clock says.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// When accepted requests are provisioned.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    Immediate,
    OffPeak(OffPeak),
}

/// A daily window, local to a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct OffPeak {
    pub start: Time,
    pub end: Time,
    pub time_zone: TimeZone,
    /// The zone's IANA name, as given.
    pub time_zone_name: String,
    /// At most this many requests start in one window.
    pub max_per_window: Option<u32>,
}

/// One concrete window: from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Why a policy was refused, by field of `{"mode","off_peak":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub field: &'static str,
    pub message: String,
}

fn parse_time(text: &str, field: &'static str) -> Result<Time, PolicyProblem> {
    let bad = || PolicyProblem {
        field,
        message: format!("{field} must be a time of day such as 22:00."),
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

impl OffPeak {
    /// Parses `HH:MM` times, an IANA zone name and an optional cap; every problem is listed.
    pub fn parse(
        start: &str,
        end: &str,
        time_zone: &str,
        max_per_window: Option<i64>,
    ) -> Result<Self, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let s = parse_time(start, "off_peak.start")
            .map_err(|p| problems.push(p))
            .ok();
        let e = parse_time(end, "off_peak.end")
            .map_err(|p| problems.push(p))
            .ok();
        let tz = TimeZone::get(time_zone.trim())
            .map_err(|_| {
                problems.push(PolicyProblem {
                    field: "off_peak.time_zone",
                    message: "off_peak.time_zone must be an IANA time zone such as Europe/London."
                        .into(),
                })
            })
            .ok();
        let cap = match max_per_window {
            None => None,
            Some(n) if (1..=100_000).contains(&n) => u32::try_from(n).ok(),
            Some(_) => {
                problems.push(PolicyProblem {
                    field: "off_peak.max_per_window",
                    message: "off_peak.max_per_window must be between 1 and 100000, or null."
                        .into(),
                });
                None
            }
        };
        if let (Some(s), Some(e)) = (s, e)
            && s == e
        {
            problems.push(PolicyProblem {
                field: "off_peak.end",
                message: "off_peak.end must differ from off_peak.start.".into(),
            });
        }
        let zone_name = time_zone.trim().to_owned();
        match (s, e, tz) {
            (Some(start), Some(end), Some(time_zone)) if problems.is_empty() => Ok(Self {
                start,
                end,
                time_zone,
                time_zone_name: zone_name,
                max_per_window: cap,
            }),
            _ => Err(problems),
        }
    }

    /// The window that opens on local date `day` (it may close the next day).
    pub fn window_on(&self, day: Date) -> Window {
        let at = |d: Date, t: Time| {
            // `to_timestamp` resolves a time in a DST gap forward and in a fold to its first
            // occurrence; the dates here are always in range, so it cannot fail.
            self.time_zone
                .to_timestamp(d.to_datetime(t))
                .unwrap_or(Timestamp::UNIX_EPOCH)
        };
        let end_day = if self.end > self.start {
            day
        } else {
            day.tomorrow().unwrap_or(day)
        };
        Window {
            start: at(day, self.start),
            end: at(end_day, self.end),
        }
    }

    /// The window that contains `now`, or else the next one to open.
    pub fn current_or_next(&self, now: Timestamp) -> Window {
        let today = now.to_zoned_datetime(self.time_zone.clone()).date();
        let mut day = today.yesterday().unwrap_or(today);
        loop {
            let w = self.window_on(day);
            if w.end > now {
                return w;
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => return w,
            }
        }
    }

    /// The window after `window`.
    pub fn next_after(&self, window: Window) -> Window {
        let opened = window
            .start
            .to_zoned_datetime(self.time_zone.clone())
            .date();
        self.window_on(opened.tomorrow().unwrap_or(opened))
    }

    /// When a request accepted at `now` starts: at once inside an open window with room,
    /// else at the opening of the first window with room. `taken(window)` says how many
    /// requests already start in a window. Gives up after a year of full windows.
    pub fn start_time(
        &self,
        now: Timestamp,
        mut taken: impl FnMut(Window) -> u32,
    ) -> Option<Timestamp> {
        let mut window = self.current_or_next(now);
        for _ in 0..366 {
            let full = self.max_per_window.is_some_and(|cap| taken(window) >= cap);
            if !full {
                return Some(window.start.max(now));
            }
            window = self.next_after(window);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn policy(start: &str, end: &str, zone: &str, cap: Option<i64>) -> OffPeak {
        OffPeak::parse(start, end, zone, cap).unwrap()
    }

    #[test]
    fn a_window_crossing_midnight_holds_the_small_hours() {
        let p = policy("22:00", "06:00", "Europe/London", None);
        // 23:30 local in winter (UTC+0): inside the window that opened at 22:00.
        let w = p.current_or_next(ts("2026-01-15T23:30:00Z"));
        assert_eq!(
            (w.start, w.end),
            (ts("2026-01-15T22:00:00Z"), ts("2026-01-16T06:00:00Z"))
        );
        // 03:00 the next morning: still the same window, opened yesterday.
        assert_eq!(p.current_or_next(ts("2026-01-16T03:00:00Z")), w);
        // 12:00: the next window opens at 22:00 today.
        let next = p.current_or_next(ts("2026-01-16T12:00:00Z"));
        assert_eq!(next.start, ts("2026-01-16T22:00:00Z"));
        assert_eq!(
            p.start_time(ts("2026-01-16T12:00:00Z"), |_| 0),
            Some(ts("2026-01-16T22:00:00Z"))
        );
        assert_eq!(
            p.start_time(ts("2026-01-16T03:00:00Z"), |_| 0),
            Some(ts("2026-01-16T03:00:00Z"))
        );
    }

    #[test]
    fn a_daytime_window_in_summer_time_is_placed_by_the_local_clock() {
        let p = policy("01:00", "05:00", "America/New_York", None);
        // July: New York is UTC-4.
        let w = p.current_or_next(ts("2026-07-10T12:00:00Z"));
        assert_eq!(
            (w.start, w.end),
            (ts("2026-07-11T05:00:00Z"), ts("2026-07-11T09:00:00Z"))
        );
    }

    #[test]
    fn a_window_over_the_spring_gap_is_an_hour_shorter() {
        // London springs forward at 01:00 GMT on 2026-03-29: 01:00-02:00 local does not exist.
        let p = policy("00:30", "03:30", "Europe/London", None);
        let w = p.window_on(Date::new(2026, 3, 29).unwrap());
        assert_eq!(w.start, ts("2026-03-29T00:30:00Z"));
        assert_eq!(w.end, ts("2026-03-29T02:30:00Z"), "03:30 BST");
        assert_eq!(w.end.duration_since(w.start).as_secs(), 2 * 3600);
        // A window that opens inside the gap opens when the clocks reach it.
        let gap = policy("01:30", "04:00", "Europe/London", None);
        assert_eq!(
            gap.window_on(Date::new(2026, 3, 29).unwrap()).start,
            ts("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn a_window_over_the_autumn_fold_is_an_hour_longer() {
        // New York falls back at 02:00 EDT on 2026-11-01: 01:00-02:00 happens twice.
        let p = policy("00:00", "04:00", "America/New_York", None);
        let w = p.window_on(Date::new(2026, 11, 1).unwrap());
        assert_eq!(w.start, ts("2026-11-01T04:00:00Z"), "midnight EDT");
        assert_eq!(w.end, ts("2026-11-01T09:00:00Z"), "04:00 EST");
        assert_eq!(w.end.duration_since(w.start).as_secs(), 5 * 3600);
        // A window opening inside the fold opens at its first occurrence.
        let fold = policy("01:30", "03:00", "America/New_York", None);
        assert_eq!(
            fold.window_on(Date::new(2026, 11, 1).unwrap()).start,
            ts("2026-11-01T05:30:00Z")
        );
    }

    #[test]
    fn a_full_window_rolls_over_to_the_next_one_with_room() {
        let p = policy("22:00", "06:00", "Europe/Berlin", Some(2));
        let now = ts("2026-02-10T12:00:00Z");
        let first = p.current_or_next(now);
        let second = p.next_after(first);
        assert_eq!(
            second.start.duration_since(first.start).as_secs(),
            24 * 3600
        );
        let counts = |w: Window| if w == first || w == second { 2 } else { 1 };
        let third = p.next_after(second);
        assert_eq!(p.start_time(now, counts), Some(third.start));
        assert_eq!(third.start, ts("2026-02-12T21:00:00Z"), "22:00 CET");
        assert_eq!(p.start_time(now, |_| 5), None, "a year of full windows");
    }

    #[test]
    fn bad_policies_name_every_field() {
        let problems = OffPeak::parse("25:00", "6", "Mars/Olympus", Some(0)).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "off_peak.start",
                "off_peak.end",
                "off_peak.time_zone",
                "off_peak.max_per_window"
            ]
        );
        let same = OffPeak::parse("22:00", "22:00", "UTC", None).unwrap_err();
        assert_eq!(same[0].field, "off_peak.end");
    }
}

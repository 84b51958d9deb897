//! Time windows: a span of the day (UTC) on some days of the week.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

use crate::file::Day;

/// Minutes in a day: `24:00`, the latest end of a window.
const DAY: u16 = 24 * 60;

/// A span of the day in UTC, `[from, to)` in minutes since midnight, on
/// some days of the week. When `from > to` the window wraps midnight, and
/// its part after midnight belongs to the day it started on: `fri 22:00` to
/// `02:00` holds Saturday 01:00, not Friday 01:00.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    from: u16,
    to: u16,
    /// One bit per weekday, Monday is bit 0.
    days: u8,
    /// How reasons name it: `08:00-18:00 UTC on mon, tue`.
    text: Box<str>,
}

impl Window {
    /// `from` and `to` in minutes since midnight; `from != to`, both at most
    /// 24:00 and `from` before it.
    pub(crate) fn new(from: u16, to: u16, days: &[Day]) -> Self {
        let days = if days.is_empty() {
            0x7f
        } else {
            days.iter().fold(0, |bits, d| bits | day_bit(weekday(*d)))
        };
        let mut text = format!("{}-{} UTC", Hhmm(from), Hhmm(to));
        if days != 0x7f {
            let names: Vec<&str> = ALL_DAYS
                .iter()
                .filter(|d| days & day_bit(**d) != 0)
                .map(|d| DAY_NAMES[d.num_days_from_monday() as usize])
                .collect();
            text.push_str(" on ");
            text.push_str(&names.join(", "));
        }
        Window {
            from,
            to,
            days,
            text: text.into(),
        }
    }

    /// Whether `at` falls inside the window.
    pub(crate) fn contains(&self, at: DateTime<Utc>) -> bool {
        let minute = (at.hour() * 60 + at.minute()) as u16;
        let today = at.weekday();
        let on = |day: Weekday| self.days & day_bit(day) != 0;
        if self.from < self.to {
            (self.from..self.to).contains(&minute) && on(today)
        } else {
            (minute >= self.from && on(today)) || (minute < self.to && on(today.pred()))
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_bit(day: Weekday) -> u8 {
    1 << day.num_days_from_monday()
}

fn weekday(day: Day) -> Weekday {
    match day {
        Day::Mon => Weekday::Mon,
        Day::Tue => Weekday::Tue,
        Day::Wed => Weekday::Wed,
        Day::Thu => Weekday::Thu,
        Day::Fri => Weekday::Fri,
        Day::Sat => Weekday::Sat,
        Day::Sun => Weekday::Sun,
    }
}

/// Reads `HH:MM` (hours 00 to 23, or `24:00` when `end_of_day` is allowed)
/// as minutes since midnight.
pub(crate) fn parse_time(text: &str, end_of_day: bool) -> Result<u16, String> {
    let bad = || {
        let range = if end_of_day {
            "00:00 to 24:00"
        } else {
            "00:00 to 23:59"
        };
        format!("{text:?} is not a time of day; write HH:MM from {range} (UTC)")
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let minutes = h * 60 + m;
    match (h, m) {
        (0..=23, 0..=59) => Ok(minutes),
        (24, 0) if end_of_day => Ok(DAY),
        _ => Err(bad()),
    }
}

/// Minutes since midnight, shown as `HH:MM`.
struct Hhmm(u16);

impl fmt::Display for Hhmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

#[cfg(test)]
mod tests;

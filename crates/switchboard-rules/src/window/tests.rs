use chrono::TimeZone;

use super::*;

/// 2026-11-23 is a Monday.
fn at(day_of_month: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day_of_month, h, m, s)
        .single()
        .expect("valid date")
}

fn window(from: &str, to: &str, days: &[Day]) -> Window {
    Window::new(
        parse_time(from, false).expect("from"),
        parse_time(to, true).expect("to"),
        days,
    )
}

#[test]
fn a_window_is_closed_at_its_start_and_open_at_its_end() {
    let w = window("08:00", "18:00", &[]);
    assert!(!w.contains(at(23, 7, 59, 59)));
    assert!(w.contains(at(23, 8, 0, 0)));
    assert!(w.contains(at(23, 17, 59, 59)));
    assert!(!w.contains(at(23, 18, 0, 0)));
}

#[test]
fn days_filter_the_window() {
    let w = window(
        "08:00",
        "18:00",
        &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
    );
    assert!(w.contains(at(27, 10, 0, 0)), "friday");
    assert!(!w.contains(at(28, 10, 0, 0)), "saturday");
    assert!(!w.contains(at(29, 10, 0, 0)), "sunday");
    assert_eq!(w.to_string(), "08:00-18:00 UTC on mon, tue, wed, thu, fri");
}

#[test]
fn a_window_wraps_midnight_and_its_early_hours_belong_to_the_day_it_started() {
    let w = window("22:00", "02:00", &[Day::Fri]);
    assert!(w.contains(at(27, 22, 0, 0)), "friday 22:00");
    assert!(
        w.contains(at(28, 1, 59, 0)),
        "saturday 01:59 is friday night"
    );
    assert!(!w.contains(at(28, 2, 0, 0)), "saturday 02:00");
    assert!(
        !w.contains(at(27, 1, 0, 0)),
        "friday 01:00 is thursday night"
    );
    assert!(!w.contains(at(28, 22, 30, 0)), "saturday 22:30");
    assert!(!w.contains(at(27, 12, 0, 0)), "friday noon");
}

#[test]
fn a_window_may_end_at_midnight() {
    let w = window("20:00", "24:00", &[]);
    assert!(w.contains(at(23, 23, 59, 59)));
    assert!(!w.contains(at(24, 0, 0, 0)));
    assert_eq!(w.to_string(), "20:00-24:00 UTC");
}

#[test]
fn times_are_hh_mm() {
    assert_eq!(parse_time("00:00", false), Ok(0));
    assert_eq!(parse_time("23:59", false), Ok(23 * 60 + 59));
    assert_eq!(parse_time("24:00", true), Ok(24 * 60));
    for bad in [
        "24:00", "8:00", "08:60", "25:00", "0800", "08:00:00", "", "ab:cd", "+1:00",
    ] {
        let err = parse_time(bad, false).expect_err(bad);
        assert!(err.contains("is not a time of day"), "{bad}: {err}");
    }
    assert!(parse_time("24:01", true).is_err());
}

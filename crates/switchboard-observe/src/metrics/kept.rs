//! [`Kept`]: the hottest metrics, counted in plain memory by the tap that
//! records them and rendered in Prometheus' text format on demand.
//!
//! A sample recorded through the `metrics` facade into
//! `metrics-exporter-prometheus` is an atomic bucket push (about 360
//! instructions) and is sorted into buckets only when scraped. A tap that
//! runs on a connection's own thread, under a lock it already holds,
//! needs neither atomics nor a second pass: it finds the bucket at once.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_type_line,
};

use super::names::{CHECKOUT_WAIT, HELD, STATEMENT_DURATION, STATEMENTS, help};

/// The families a keeping tap holds itself, every series of them (other
/// families go to its recorder as usual).
pub(super) const FAMILIES: [&str; 4] = [STATEMENT_DURATION, STATEMENTS, CHECKOUT_WAIT, HELD];

/// Whether `name` is one of the [`FAMILIES`].
pub(super) fn is_kept(name: &str) -> bool {
    FAMILIES.contains(&name)
}

/// Labels of one series, in the order they are rendered.
type Labels = Vec<(&'static str, String)>;

/// Statement, checkout and held-time histograms and statement counts kept
/// by a tap ([`MetricsTap::kept`](super::MetricsTap::kept)). A clone is a
/// snapshot, rendered with [`Kept::render`].
#[derive(Debug, Clone)]
pub struct Kept {
    /// Upper bounds of the buckets, ascending (`+Inf` implied).
    bounds: Arc<[f64]>,
    /// The same bounds as durations: a duration of fewer nanoseconds than
    /// `limits[i]` is at or below `bounds[i]` (as seconds in an `f64`).
    limits: Arc<[u64]>,
    histograms: Vec<Series<Buckets>>,
    counters: Vec<Series<u64>>,
}

#[derive(Debug, Clone)]
struct Series<T> {
    name: &'static str,
    labels: Labels,
    value: T,
}

/// One histogram: a count per bucket (not cumulative; the last one is
/// `+Inf`'s own), the sum and the count.
#[derive(Debug, Clone)]
struct Buckets {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Kept {
    /// Nothing kept yet; histograms with these bucket bounds (sorted here;
    /// what is not a finite number is left out).
    pub(super) fn new(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let limits: Vec<u64> = bounds.iter().map(|&b| limit(b)).collect();
        Kept {
            bounds: bounds.into(),
            limits: limits.into(),
            histograms: Vec::new(),
            counters: Vec::new(),
        }
    }

    /// The index of the histogram `name` with `labels`, made at its first
    /// use.
    pub(super) fn histogram(
        &mut self,
        name: &'static str,
        labels: &[(&'static str, String)],
    ) -> u32 {
        let buckets = self.bounds.len() + 1;
        index(&mut self.histograms, name, labels, || Buckets {
            counts: vec![0; buckets],
            sum: 0.0,
            count: 0,
        })
    }

    /// The index of the counter `name` with `labels`, made at its first use.
    pub(super) fn counter(&mut self, name: &'static str, labels: &[(&'static str, String)]) -> u32 {
        index(&mut self.counters, name, labels, || 0)
    }

    /// Records `value` into histogram `h`, as seconds.
    ///
    /// Its bucket is found comparing nanoseconds from the lowest bound up:
    /// most durations fall in the first buckets, where a binary search of
    /// the `f64` bounds would make four dependent comparisons every time.
    pub(super) fn observe(&mut self, h: u32, value: Duration) {
        let at = self.bucket(value);
        let Some(series) = self.histograms.get_mut(h as usize) else {
            return;
        };
        let b = &mut series.value;
        if let Some(n) = b.counts.get_mut(at) {
            *n += 1;
        }
        b.sum += value.as_secs_f64();
        b.count += 1;
    }

    /// The bucket of `value`: the first bound at or above it (`le`); past
    /// the last, `+Inf`'s.
    fn bucket(&self, value: Duration) -> usize {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.limits
            .iter()
            .position(|&limit| nanos < limit)
            .unwrap_or(self.limits.len())
    }

    /// Adds `n` to counter `c`.
    pub(super) fn count(&mut self, c: u32, n: u64) {
        if let Some(series) = self.counters.get_mut(c as usize) {
            series.value = series.value.saturating_add(n);
        }
    }

    /// Appends every family in `kept` (several taps' snapshots, one per
    /// pool, say) to `out` in Prometheus' text format, as
    /// `metrics-exporter-prometheus` renders histograms and counters:
    /// each family once, with its help and type lines, then its series.
    pub fn render<'a>(kept: impl IntoIterator<Item = &'a Kept> + Clone, out: &mut String) {
        for family in FAMILIES {
            let mut wrote_head = false;
            for k in kept.clone() {
                for series in k.histograms.iter().filter(|s| s.name == family) {
                    head(out, family, "histogram", &mut wrote_head);
                    series.render_histogram(&k.bounds, out);
                }
                for series in k.counters.iter().filter(|s| s.name == family) {
                    head(out, family, "counter", &mut wrote_head);
                    line(out, family, "", &series.labels, None, series.value);
                }
            }
            if wrote_head {
                out.push('\n');
            }
        }
    }
}

impl Series<Buckets> {
    fn render_histogram(&self, bounds: &[f64], out: &mut String) {
        let b = &self.value;
        let mut below = 0u64;
        for (bound, n) in bounds.iter().zip(&b.counts) {
            below += n;
            line(out, self.name, "_bucket", &self.labels, Some(bound), below);
        }
        line(
            out,
            self.name,
            "_bucket",
            &self.labels,
            Some(&"+Inf"),
            b.count,
        );
        line(out, self.name, "_sum", &self.labels, None, b.sum);
        line(out, self.name, "_count", &self.labels, None, b.count);
    }
}

/// The fewest nanoseconds a duration above `bound` seconds has, as
/// `Duration::as_secs_f64` and an `f64` comparison decide it (what the
/// `metrics` recorder does with the same sample): 0 for a bound below
/// zero, `u64::MAX` for one past what a `u64` of nanoseconds holds.
fn limit(bound: f64) -> u64 {
    if bound < 0.0 {
        return 0;
    }
    if bound >= u64::MAX as f64 / 1e9 {
        return u64::MAX;
    }
    let within = |n: u64| Duration::from_nanos(n).as_secs_f64() <= bound;
    // A nanosecond or two off either way, from the product's rounding.
    let mut n = (bound * 1e9) as u64;
    while n > 0 && !within(n) {
        n -= 1;
    }
    while within(n) {
        n += 1;
    }
    n
}

/// `series`' index of `name` with `labels`, added (valued `new()`) when
/// absent. A scan: a pool has few series, and the recorder keeps the
/// indices of its hot ones.
fn index<T>(
    series: &mut Vec<Series<T>>,
    name: &'static str,
    labels: &[(&'static str, String)],
    new: impl FnOnce() -> T,
) -> u32 {
    let found = series
        .iter()
        .position(|s| s.name == name && s.labels == labels);
    let at = found.unwrap_or_else(|| {
        series.push(Series {
            name,
            labels: labels.to_vec(),
            value: new(),
        });
        series.len() - 1
    });
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// The help and type lines of `family`, once.
fn head(out: &mut String, family: &str, kind: &str, wrote: &mut bool) {
    if !*wrote {
        write_help_line(out, family, None, None, help(family));
        write_type_line(out, family, None, None, kind);
        *wrote = true;
    }
}

/// `name{labels,le="bound"} value`.
fn line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &Labels,
    le: Option<&dyn std::fmt::Display>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    out.push_str(suffix);
    let le = le.map(|le| ("le", le.to_string()));
    let mut pairs = labels
        .iter()
        .map(|(k, v)| (*k, sanitize_label_value(v)))
        .chain(le)
        .peekable();
    if pairs.peek().is_some() {
        out.push('{');
        for (i, (key, value)) in pairs.enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{value}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket the `metrics` recorder would count `d` in: the first
    /// bound at or above it in seconds, as an `f64`.
    fn by_seconds(bounds: &[f64], d: Duration) -> usize {
        bounds.partition_point(|b| *b < d.as_secs_f64())
    }

    #[test]
    fn durations_land_in_the_bucket_the_seconds_would_choose() {
        let mut bounds = crate::exporter::DURATION_BUCKETS.to_vec();
        bounds.extend([-1.0, 0.0, 0.000_01, 0.3, 1e-9, 3.000_000_001, 1e12]);
        let kept = Kept::new(&bounds);
        let mut checked = 0;
        for &b in kept.bounds.iter() {
            // Each bound's edge, and around it.
            let edge = (b.max(0.0) * 1e9).min(1e18) as u64;
            for n in edge.saturating_sub(3)..=edge.saturating_add(3) {
                let d = Duration::from_nanos(n);
                assert_eq!(
                    kept.bucket(d),
                    by_seconds(&kept.bounds, d),
                    "{d:?} against {b}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100);
        assert_eq!(limit(-1.0), 0, "nothing is at or below a negative bound");
        assert_eq!(limit(1e12), u64::MAX);
    }

    #[test]
    fn observing_counts_the_bucket_the_sum_and_the_count() {
        let mut kept = Kept::new(&[0.000_1, 0.001]);
        let h = kept.histogram("h", &[]);
        for d in [50, 100, 101, 1_000, 5_000] {
            kept.observe(h, Duration::from_micros(d));
        }
        let b = &kept.histograms[h as usize].value;
        assert_eq!(b.counts, [2, 2, 1]);
        assert_eq!(b.count, 5);
        assert!((b.sum - 0.006_251).abs() < 1e-12, "{}", b.sum);
    }
}

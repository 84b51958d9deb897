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
        Kept {
            bounds: bounds.into(),
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

    /// Records `value` into histogram `h`.
    pub(super) fn observe(&mut self, h: u32, value: f64) {
        let Some(series) = self.histograms.get_mut(h as usize) else {
            return;
        };
        // The first bound at or above the value (`le`); past the last, +Inf.
        let at = self.bounds.partition_point(|b| *b < value);
        let b = &mut series.value;
        if let Some(n) = b.counts.get_mut(at) {
            *n += 1;
        }
        b.sum += value;
        b.count += 1;
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

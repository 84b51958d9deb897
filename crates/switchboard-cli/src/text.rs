//! Shortening text for one-line reports.

use switchboard_core::Labels;

/// `sql` on one line (whitespace runs collapsed), cut to `max` characters
/// with `…` when longer.
pub(crate) fn one_line(sql: &str, max: usize) -> String {
    let mut out = String::with_capacity(sql.len().min(max + 3));
    for (i, word) in sql.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    match out.char_indices().nth(max) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}

/// `k=v,k2=v2`, or `-` for none.
pub(crate) fn labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return "-".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_is_put_on_one_line_and_cut() {
        assert_eq!(one_line("SELECT *\n  FROM   t", 80), "SELECT * FROM t");
        assert_eq!(one_line("SELECT 1", 6), "SELECT…");
        assert_eq!(one_line("SELECT 'ééé'", 9), "SELECT 'é…");
        assert_eq!(one_line("", 5), "");
    }

    #[test]
    fn labels_are_listed() {
        let l: Labels = [("tenant", "acme"), ("app", "web")].into_iter().collect();
        assert_eq!(labels(&l), "app=web,tenant=acme");
        assert_eq!(labels(&Labels::new()), "-");
    }
}

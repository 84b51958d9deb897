//! How many bind parameters a statement expects.
//!
//! The count follows SQLite's numbering, which covers every style at once
//! and agrees with PostgreSQL and MySQL on their own styles:
//!
//! - `?` takes the number after the highest so far (so n `?` expect n binds);
//! - `$n` and `?n` take number n (so `$1 ... $n` expect the highest n);
//! - `:name`, `@name` and `$name` take the number after the highest so far
//!   the first time a name appears, and reuse it afterwards (so they expect
//!   one bind per distinct name);
//!
//! and the statement expects as many binds as the highest number taken.

/// Counts placeholders in the order the walk meets them.
#[derive(Debug, Default)]
pub(crate) struct Placeholders {
    /// The highest parameter number taken so far.
    highest: usize,
    /// Named parameters seen so far; statements have few, so a list beats
    /// a map.
    names: Vec<String>,
}

impl Placeholders {
    /// The number of binds the statement expects.
    pub(crate) fn count(&self) -> usize {
        self.highest
    }

    /// Takes the text of a `Value::Placeholder` (`?`, `?3`, `$1`, `:id`).
    /// Other texts that sqlparser stores as placeholders (bare words in
    /// some dialects' option lists) are not bind parameters and are ignored.
    pub(crate) fn see(&mut self, text: &str) {
        let mut chars = text.chars();
        let (Some(sigil), rest) = (chars.next(), chars.as_str()) else {
            return;
        };
        match sigil {
            '?' if rest.is_empty() => self.next_number(),
            '?' | '$' if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => {
                // A number too large for usize expects more binds than any
                // caller can send, which is what saturating says.
                let number = rest.parse().unwrap_or(usize::MAX);
                self.highest = self.highest.max(number);
            }
            ':' | '@' | '$' if is_name(rest) && !self.names.iter().any(|name| name == text) => {
                self.names.push(text.to_owned());
                self.next_number();
            }
            _ => {}
        }
    }

    fn next_number(&mut self) {
        self.highest = self.highest.saturating_add(1);
    }
}

/// Parameter names are identifiers: `$$` or `$tag$` are not parameters.
fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::Placeholders;

    fn count(texts: &[&str]) -> usize {
        let mut placeholders = Placeholders::default();
        texts.iter().for_each(|text| placeholders.see(text));
        placeholders.count()
    }

    #[test]
    fn positional_question_marks_count_each_occurrence() {
        assert_eq!(count(&["?", "?", "?"]), 3);
    }

    #[test]
    fn numbered_parameters_count_the_highest_number() {
        assert_eq!(count(&["$2", "$1", "$2"]), 2);
        assert_eq!(count(&["$3"]), 3);
        assert_eq!(count(&["?1", "?4"]), 4);
    }

    #[test]
    fn named_parameters_count_distinct_names() {
        assert_eq!(count(&[":id", ":name", ":id"]), 2);
        assert_eq!(count(&["@a", "$b", ":a"]), 3);
    }

    #[test]
    fn mixed_styles_follow_sqlite_numbering() {
        // ?5 then ? takes 6; :x takes 7.
        assert_eq!(count(&["?5", "?", ":x"]), 7);
        // : x takes 1, then ?1 reuses number 1.
        assert_eq!(count(&[":x", "?1"]), 1);
    }

    #[test]
    fn non_parameters_are_ignored() {
        assert_eq!(count(&["", "$", ":", "AUTO", "$$"]), 0);
    }

    #[test]
    fn absurd_numbers_saturate() {
        assert_eq!(count(&["$99999999999999999999999", "?"]), usize::MAX);
    }
}

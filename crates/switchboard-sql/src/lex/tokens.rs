//! The regions sqlparser's tokens mark: comments, strings, quoted names.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Whitespace};

use super::{Part, Region};

/// The comments and quoted runs of sqlparser's reading, in text order.
pub(super) fn regions(sql: &str, tokens: &[TokenWithSpan]) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut locate = Locator::new(sql);
    for token in tokens {
        let part = match &token.token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => Part::Comment,
            Token::Word(word) if word.quote_style.is_some() => Part::Quoted,
            Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::CopyData { .. } => Part::Quoted,
            _ => continue,
        };
        let (Some(start), Some(end)) = (locate.byte(token.span.start), locate.byte(token.span.end))
        else {
            continue;
        };
        // A string token's span starts at its prefix (`E'`, `N'`, `X'`,
        // `_utf8'`); the models count the prefix as code.
        let start = match part {
            Part::Quoted => sql
                .get(start..end)
                .and_then(|text| text.find(['\'', '"', '`', '$', '[']))
                .map_or(start, |offset| start + offset),
            Part::Comment => start,
        };
        if start < end {
            regions.push(Region { start, end, part });
        }
    }
    regions
}

/// Turns sqlparser's (line, column) locations, which count characters,
/// into byte offsets. On an ASCII line a column is a byte offset; on
/// others, tokens come in text order, so a cursor that only moves forward
/// (restarting at the line's start when asked to go back) walks each line
/// about once.
struct Locator<'a> {
    sql: &'a str,
    /// The byte offset at which each line starts.
    line_starts: Vec<usize>,
    /// The last location answered on a non-ASCII line: (line index, column
    /// index, byte).
    cursor: (usize, usize, usize),
    /// The last line checked for non-ASCII characters, and whether it is
    /// ASCII: a token's start and end usually share a line.
    ascii: (usize, bool),
}

impl<'a> Locator<'a> {
    fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(at, _)| at + 1));
        Locator {
            sql,
            line_starts,
            cursor: (usize::MAX, 0, 0),
            ascii: (usize::MAX, false),
        }
    }

    fn byte(&mut self, location: Location) -> Option<usize> {
        let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let line_start = *self.line_starts.get(line)?;
        let line_end = self
            .line_starts
            .get(line + 1)
            .map_or(self.sql.len(), |next| next - 1);
        let text = self.sql.get(line_start..line_end)?;
        if self.ascii.0 != line {
            self.ascii = (line, text.is_ascii());
        }
        if self.ascii.1 {
            return Some(line_start + column.min(text.len()));
        }
        let (cursor_line, mut at_column, mut at) = self.cursor;
        if cursor_line != line || at_column > column {
            (at_column, at) = (0, line_start);
        }
        let mut chars = self.sql[at..].chars();
        while at_column < column {
            match chars.next() {
                Some(ch) => {
                    at += ch.len_utf8();
                    at_column += 1;
                }
                None => break,
            }
        }
        self.cursor = (line, at_column, at);
        Some(at)
    }
}

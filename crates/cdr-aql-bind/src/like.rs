//! AQL LIKE patterns: `*` matches any run of characters, `?` one character, `\` makes the next
//! character literal (a trailing lone `\` stands for itself); every other character, `%` and
//! `_` included, is literal. Matching is case-sensitive and covers the whole string.

/// One element of a LIKE pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeToken {
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    One,
    /// A literal character.
    Char(char),
}

/// A parsed LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    pub tokens: Vec<LikeToken>,
}

impl LikePattern {
    /// Parses AQL pattern text.
    pub fn parse(pattern: &str) -> LikePattern {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => LikeToken::AnyRun,
                '?' => LikeToken::One,
                '\\' => LikeToken::Char(chars.next().unwrap_or('\\')),
                c => LikeToken::Char(c),
            });
        }
        LikePattern { tokens }
    }

    /// Whether all of `text` matches (characters are Unicode scalar values).
    pub fn matches(&self, text: &str) -> bool {
        let pat = &self.tokens;
        // reach[j]: the characters read so far match the first j tokens.
        let mut reach = vec![false; pat.len() + 1];
        reach[0] = true;
        for j in 0..pat.len() {
            if pat[j] == LikeToken::AnyRun && reach[j] {
                reach[j + 1] = true;
            }
        }
        for c in text.chars() {
            let mut next = vec![false; pat.len() + 1];
            for j in 0..pat.len() {
                next[j + 1] = match pat[j] {
                    LikeToken::AnyRun => next[j] || reach[j + 1],
                    LikeToken::One => reach[j],
                    LikeToken::Char(p) => reach[j] && p == c,
                };
            }
            reach = next;
        }
        reach[pat.len()]
    }

    /// The pattern in SQL LIKE syntax with `\` as the escape character.
    pub fn to_sql(&self) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                LikeToken::AnyRun => out.push('%'),
                LikeToken::One => out.push('_'),
                LikeToken::Char(c @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(*c);
                }
                LikeToken::Char(c) => out.push(*c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::parse(pattern).matches(text)
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(like("2019-05-01", "2019-0?-*"));
        assert!(!like("2019-10-01", "2019-0?-*"));
        assert!(like("", "*"));
        assert!(!like("", "?"));
        assert!(like("abc", "a*c") && like("ac", "a*c") && !like("abd", "a*c"));
        // % and _ are ordinary characters.
        assert!(!like("Name%_", "Name%") && like("Name%_", "Name%_"));
        assert!(like("Name%_", "*%_") && !like("Nameab", "Name%_"));
        assert!(like("Name*?", "Name\\*\\?") && !like("Name*", "Name\\*\\?"));
        assert!(!like("Name*?", "Name\\*") && like("Name*?", "Name*"));
        assert!(like("é", "?"));
        assert!(like("x\\", "x\\"));
    }

    #[test]
    fn sql_form_escapes_sql_wildcards() {
        assert_eq!(LikePattern::parse("a*b?%_\\*").to_sql(), "a%b_\\%\\_*");
        assert_eq!(LikePattern::parse("x\\").to_sql(), "x\\\\");
    }
}

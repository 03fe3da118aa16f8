//! LIKE patterns: `%` any run of characters, `_` one character, `\` escapes the next one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    AnyRun,
    One,
    Char(char),
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => Token::AnyRun,
            '_' => Token::One,
            // A trailing backslash stands for itself.
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    out
}

/// Whether all of `text` matches `pattern` (characters are Unicode scalar values).
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let pat = tokens(pattern);
    let text: Vec<char> = text.chars().collect();
    // reach[j]: the first i characters of text match the first j tokens.
    let mut reach = vec![false; pat.len() + 1];
    reach[0] = true;
    for j in 0..pat.len() {
        if pat[j] == Token::AnyRun && reach[j] {
            reach[j + 1] = true;
        }
    }
    for &c in &text {
        let mut next = vec![false; pat.len() + 1];
        for j in 0..pat.len() {
            next[j + 1] = match pat[j] {
                Token::AnyRun => next[j] || reach[j + 1],
                Token::One => reach[j],
                Token::Char(p) => reach[j] && p == c,
            };
        }
        reach = next;
    }
    reach[pat.len()]
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn wildcards_and_escapes() {
        assert!(like("2019-05-01", "2019-0_-%"));
        assert!(!like("2019-10-01", "2019-0_-%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("abc", "a%c"));
        assert!(like("ac", "a%c"));
        assert!(!like("abd", "a%c"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("é", "_"));
        assert!(like("x\\", "x\\"));
        assert!(!like("2019-05-01", "2019-0?-*"));
        assert!(like("Blood%pressure", "%\\%%"));
    }
}

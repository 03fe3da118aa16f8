//! A short string that matches a regular expression of the kind templates put on strings
//! (`[A-Z]{2}-[0-9]+`, `\d{3,}`, `(mg|g)`): literals, classes, escapes, groups with
//! alternatives and quantifiers, each atom repeated as few times as its quantifier allows.
//! Anything it does not understand makes it give up (`None`), never guess.

/// A string matching `pattern`, when the pattern is simple enough to sample.
pub(crate) fn sample(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut p = Parser { chars, at: 0 };
    let out = p.alternatives(0)?;
    (p.at == p.chars.len()).then_some(out)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

/// Groups nest at most this deep.
const MAX_DEPTH: usize = 32;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    /// `a|b|c`: the first alternative's sample (the others are parsed and dropped).
    fn alternatives(&mut self, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first = self.sequence(depth)?;
        while self.peek() == Some('|') {
            self.at += 1;
            self.sequence(depth)?;
        }
        Some(first)
    }

    fn sequence(&mut self, depth: usize) -> Option<String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom(depth)?;
            let times = self.quantifier()?;
            for _ in 0..times {
                out.push_str(&atom);
            }
        }
        Some(out)
    }

    fn atom(&mut self, depth: usize) -> Option<String> {
        match self.next()? {
            '^' | '$' => Some(String::new()),
            '.' => Some("a".into()),
            '(' => {
                if self.peek() == Some('?') {
                    // `(?:…)`: a group that does not capture.
                    self.at += 1;
                    if self.next()? != ':' {
                        return None;
                    }
                }
                let inner = self.alternatives(depth + 1)?;
                (self.next()? == ')').then_some(inner)
            }
            '[' => self.class().map(String::from),
            '\\' => escape(self.next()?).map(String::from),
            c if "*+?{)]}".contains(c) => None,
            c => Some(c.to_string()),
        }
    }

    /// `[…]`: its first member (`[^…]`: a letter or digit it does not exclude).
    fn class(&mut self) -> Option<char> {
        let negated = self.peek() == Some('^');
        if negated {
            self.at += 1;
        }
        let mut members = Vec::new();
        let mut first = true;
        loop {
            let c = self.next()?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let c = if c == '\\' { escape(self.next()?)? } else { c };
            if self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|n| *n != ']') {
                self.at += 1;
                let end = match self.next()? {
                    '\\' => escape(self.next()?)?,
                    e => e,
                };
                members.push((c, end));
            } else {
                members.push((c, c));
            }
        }
        if negated {
            let excluded = |x: char| members.iter().any(|(a, b)| *a <= x && x <= *b);
            return ('a'..='z').chain('0'..='9').find(|x| !excluded(*x));
        }
        members.first().map(|(a, _)| *a)
    }

    /// How many times the atom before is repeated: the least its quantifier allows.
    fn quantifier(&mut self) -> Option<usize> {
        let times = match self.peek() {
            Some('*' | '?') => {
                self.at += 1;
                0
            }
            Some('+') => {
                self.at += 1;
                1
            }
            Some('{') => {
                self.at += 1;
                let mut digits = String::new();
                while let Some(c) = self.next() {
                    match c {
                        '0'..='9' => digits.push(c),
                        ',' | '}' => {
                            if c == ',' {
                                while self.next()? != '}' {}
                            }
                            break;
                        }
                        _ => return None,
                    }
                }
                digits.parse().ok().filter(|n| *n <= 1000)?
            }
            _ => 1,
        };
        if self.peek() == Some('?') {
            self.at += 1;
        }
        Some(times)
    }
}

/// A character an escape stands for (`\d` → `0`).
fn escape(c: char) -> Option<char> {
    match c {
        'd' => Some('0'),
        'w' => Some('a'),
        's' => Some(' '),
        'n' => Some('\n'),
        't' => Some('\t'),
        c if c.is_ascii_alphanumeric() => None,
        c => Some(c),
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn samples_match_their_patterns() {
        for (pattern, expected) in [
            ("[A-Z]{2}-[0-9]+", Some("AA-0")),
            ("\\d{3,}", Some("000")),
            ("(mg|g)/day", Some("mg/day")),
            ("^ab?c*$", Some("a")),
            ("[^0-9]x", Some("ax")),
            ("a\\.b", Some("a.b")),
            ("(?:x)+", Some("x")),
            ("a{2,4}", Some("aa")),
            ("[a-", None),
            ("(a", None),
            ("*", None),
            ("\\p{L}", None),
            ("a)", None),
        ] {
            assert_eq!(sample(pattern).as_deref(), expected, "{pattern}");
        }
    }
}

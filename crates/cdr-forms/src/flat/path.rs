//! FLAT keys: `root/node:0/child|suffix`.

use super::FlatError;

/// One `/`-separated segment: a web template id (or an `_rm_attribute`) and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub id: String,
    pub index: Option<usize>,
}

/// A parsed FLAT key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlatPath {
    pub segments: Vec<Segment>,
    /// The part after `|`, if any.
    pub suffix: Option<String>,
}

/// The most `/`-separated segments a key may have (real keys have a few dozen); it bounds the
/// recursion of the converters.
pub(crate) const MAX_SEGMENTS: usize = 128;

/// Parses a key such as `vitals/blood_pressure:0/any_event:1/systolic|magnitude`.
pub(crate) fn parse(key: &str) -> Result<FlatPath, FlatError> {
    let bad = |why: &str| FlatError::BadPath {
        path: key.to_owned(),
        message: why.to_owned(),
    };
    let (body, suffix) = match key.split_once('|') {
        Some((b, s)) => {
            if s.is_empty() || s.contains(['/', '|']) {
                return Err(bad("the part after '|' must be one attribute name"));
            }
            (b, Some(s.to_owned()))
        }
        None => (key, None),
    };
    if body.split('/').count() > MAX_SEGMENTS {
        return Err(bad(&format!("more than {MAX_SEGMENTS} segments")));
    }
    let mut segments = Vec::new();
    for part in body.split('/') {
        let (id, index) = match part.split_once(':') {
            Some((id, i)) => {
                let index = i
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("'{part}': the index after ':' must be a number")))?;
                (id, Some(index))
            }
            None => (part, None),
        };
        if id.is_empty() {
            return Err(bad("empty segment"));
        }
        segments.push(Segment {
            id: id.to_owned(),
            index,
        });
    }
    Ok(FlatPath { segments, suffix })
}

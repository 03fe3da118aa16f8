//! OPT 1.4 XML → [`Template`].
//!
//! A single streaming pass over quick-xml's borrowed events: no DOM is built, unknown elements
//! (`description`, `constraints`, `view`, `ontology`, `match_negated`, …) are skipped, names
//! and `xsi:type` values are matched on their local part so any namespace prefix works, and no
//! DTD is processed. Input size and element nesting are bounded by [`ParseLimits`].

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};

use crate::index::build_path_index;
use crate::model::{DefaultValue, Derived, Template};
use crate::tree::read_definition;
use crate::xml::{attribute, xsi_type, Cursor};

/// The deepest element nesting the parser accepts whatever [`ParseLimits::max_depth`] says.
/// The constraint tree is recursive (its `Drop`, `Clone` and validator walks recurse), so it is
/// kept shallow enough for any thread stack; real OPTs nest about 30 elements deep.
pub const MAX_SUPPORTED_DEPTH: usize = 1024;

/// Limits that keep a hostile OPT from exhausting memory or stack.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Maximum element nesting depth (capped at [`MAX_SUPPORTED_DEPTH`]).
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_depth: 512,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why an OPT could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OptError {
    #[error("OPT is not well-formed XML at line {line}, column {column}: {message}")]
    Xml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("OPT is invalid at line {line}, column {column}: {message}")]
    Invalid {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("OPT exceeds a limit: {0}")]
    Limit(String),
}

/// Parses an OPT 1.4 document with the default [`ParseLimits`].
pub fn parse_opt(xml: &[u8]) -> Result<Template, OptError> {
    parse_opt_with_limits(xml, ParseLimits::default())
}

/// Parses an OPT 1.4 document, enforcing `limits`.
pub fn parse_opt_with_limits(xml: &[u8], limits: ParseLimits) -> Result<Template, OptError> {
    if xml.len() > limits.max_bytes {
        return Err(OptError::Limit(format!(
            "input is {} bytes, more than the limit of {} bytes",
            xml.len(),
            limits.max_bytes
        )));
    }
    let mut cur = Cursor::new(xml, limits.max_depth.min(MAX_SUPPORTED_DEPTH));
    let (root, empty) = loop {
        match cur.next()? {
            Event::Start(e) => break (e, false),
            Event::Empty(e) => break (e, true),
            Event::Eof => return Err(cur.invalid("not an OPT: the document has no root element")),
            _ => {}
        }
    };
    let root_at = cur.tag_start(&root, empty);
    if root.local_name().as_ref() != b"template" {
        return Err(cur.invalid_at(
            root_at,
            format!(
                "not an OPT: the root element is <{}>, expected <template>",
                String::from_utf8_lossy(root.name().as_ref())
            ),
        ));
    }
    read_template(&mut cur, empty, root_at)
}

fn read_template(cur: &mut Cursor<'_>, empty: bool, root_at: usize) -> Result<Template, OptError> {
    let mut template_id = None;
    let mut uid = None;
    let mut concept = String::new();
    let mut language = String::new();
    let mut languages = Vec::new();
    let mut definition = None;
    let mut annotations: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut default_values = Vec::new();
    if !empty {
        while let Some((e, empty)) = cur.next_child()? {
            match e.local_name().as_ref() {
                b"template_id" => template_id = Some(cur.string(empty)?),
                b"uid" => uid = Some(cur.string(empty)?).filter(|u| !u.is_empty()),
                b"concept" => concept = cur.string(empty)?,
                b"language" => language = language_code(cur, empty)?,
                b"description" => read_description_languages(cur, empty, &mut languages)?,
                b"definition" => {
                    if definition.is_some() {
                        return Err(cur.invalid("more than one definition"));
                    }
                    definition = Some(read_definition(cur, &e, empty)?);
                }
                b"annotations" => read_annotation(cur, &e, empty, &mut annotations)?,
                b"constraints" => read_constraints(cur, empty, &mut default_values)?,
                _ => cur.skip(empty)?,
            }
        }
    }
    let Some(template_id) = template_id.filter(|t| !t.is_empty()) else {
        return Err(cur.invalid_at(root_at, "template has no template_id/value"));
    };
    let Some(definition) = definition else {
        return Err(cur.invalid_at(root_at, "template has no definition"));
    };
    let path_index = build_path_index(&definition)?;
    Ok(Template {
        template_id,
        uid,
        concept,
        language,
        languages,
        definition,
        annotations,
        default_values,
        path_index,
        derived: Derived::default(),
    })
}

/// `language/code_string`.
fn language_code(cur: &mut Cursor<'_>, empty: bool) -> Result<String, OptError> {
    let mut code = String::new();
    if empty {
        return Ok(code);
    }
    while let Some((e, empty)) = cur.next_child()? {
        if e.local_name().as_ref() == b"code_string" {
            code = cur.string(empty)?;
        } else {
            cur.skip(empty)?;
        }
    }
    Ok(code)
}

/// The `language/code_string` of every `description/details`.
fn read_description_languages(
    cur: &mut Cursor<'_>,
    empty: bool,
    languages: &mut Vec<String>,
) -> Result<(), OptError> {
    if empty {
        return Ok(());
    }
    while let Some((e, empty)) = cur.next_child()? {
        if e.local_name().as_ref() != b"details" || empty {
            cur.skip(empty)?;
            continue;
        }
        while let Some((d, empty)) = cur.next_child()? {
            if d.local_name().as_ref() == b"language" {
                let code = language_code(cur, empty)?;
                if !code.is_empty() && !languages.contains(&code) {
                    languages.push(code);
                }
            } else {
                cur.skip(empty)?;
            }
        }
    }
    Ok(())
}

/// `constraints/attributes`: the default values a template sets (other constraint kinds are
/// skipped).
fn read_constraints(
    cur: &mut Cursor<'_>,
    empty: bool,
    out: &mut Vec<DefaultValue>,
) -> Result<(), OptError> {
    if empty {
        return Ok(());
    }
    while let Some((e, empty)) = cur.next_child()? {
        if e.local_name().as_ref() != b"attributes" || empty {
            cur.skip(empty)?;
            continue;
        }
        let (mut path, mut attribute, mut values) = (String::new(), String::new(), Vec::new());
        while let Some((a, empty)) = cur.next_child()? {
            match a.local_name().as_ref() {
                b"rm_attribute_name" => attribute = cur.string(empty)?,
                b"differential_path" => path = normalise_differential_path(&cur.string(empty)?),
                b"children" if !empty => {
                    while let Some((c, empty)) = cur.next_child()? {
                        if c.local_name().as_ref() == b"default_value" {
                            let rm_type = xsi_type(&c)
                                .map(|t| String::from_utf8_lossy(&t).into_owned())
                                .unwrap_or_default();
                            let mut fields = Vec::new();
                            if !empty {
                                read_default_fields(cur, &mut fields)?;
                            }
                            values.push((rm_type, fields));
                        } else {
                            cur.skip(empty)?;
                        }
                    }
                }
                _ => cur.skip(empty)?,
            }
        }
        for (rm_type, fields) in values {
            out.push(DefaultValue {
                path: path.clone(),
                attribute: attribute.clone(),
                rm_type,
                fields,
            });
        }
    }
    Ok(())
}

/// The leaf fields of a `default_value` (one level of nesting is followed for
/// `defining_code/code_string`).
fn read_default_fields(
    cur: &mut Cursor<'_>,
    fields: &mut Vec<(String, String)>,
) -> Result<(), OptError> {
    while let Some((f, empty)) = cur.next_child()? {
        let name = String::from_utf8_lossy(f.local_name().as_ref()).into_owned();
        if name == "defining_code" {
            let mut code = String::new();
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    if c.local_name().as_ref() == b"code_string" {
                        code = cur.string(empty)?;
                    } else {
                        cur.skip(empty)?;
                    }
                }
            }
            fields.push((name, code));
        } else {
            let text = cur.text(empty)?;
            fields.push((name, text.trim().to_owned()));
        }
    }
    Ok(())
}

/// `[openEHR-EHR-COMPOSITION.x.v1]/content[a, 'B']` → `/content[a,'B']`.
fn normalise_differential_path(p: &str) -> String {
    let rest = match p.strip_prefix('[') {
        Some(r) => r.find(']').map_or("", |i| &r[i + 1..]),
        None => p,
    };
    rest.replace(", '", ",'")
}

/// `<annotations path="…"><items id="key">value</items>…</annotations>`.
fn read_annotation(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    annotations: &mut HashMap<String, Vec<(String, String)>>,
) -> Result<(), OptError> {
    let path = attribute(e, b"path").unwrap_or_default();
    let mut items = Vec::new();
    if !empty {
        while let Some((item, empty)) = cur.next_child()? {
            if item.local_name().as_ref() == b"items" {
                let key = attribute(&item, b"id").unwrap_or_default();
                items.push((key, cur.string(empty)?));
            } else {
                cur.skip(empty)?;
            }
        }
    }
    annotations.entry(path).or_default().extend(items);
    Ok(())
}

//! From ADL text to [`Archetype`]: the pest parser generated from `adl.pest` for the header
//! and the cADL definition, the dADL reader for the other sections, and the builder that turns
//! pest's pairs into the typed model.

use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;

use crate::dadl::{Dadl, DadlPrim, Reader, TermCode};
use crate::error::ParseError;
use crate::model::*;

mod grammar {
    #![allow(missing_docs)]
    //! The generated parser.

    /// The pest parser for `adl.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "adl.pest"]
    pub(crate) struct AdlParser;
}

use grammar::{AdlParser, Rule};

type Pair<'i> = pest::iterators::Pair<'i, Rule>;
type Result<T> = std::result::Result<T, ParseError>;

/// The deepest nesting of object constraints (`{ }`) and of dADL blocks (`< >`) accepted, so
/// that recursion stays bounded. pest's own stack guard stops its recursion first on text
/// nested so deeply that pest would run out of stack.
pub const MAX_NESTING: usize = 200;

/// Parses one archetype; `source` names it in errors (a file name or a label).
pub fn parse(text: &str, source: &str) -> Result<Archetype> {
    let top = Builder {
        text,
        source,
        base: 0,
        depth: std::cell::Cell::new(0),
    };
    let value = |start: usize, end: usize| top.value_at(start, end);
    let mut r = Reader::new(text, 0, source, &value);

    let head = top.run(Rule::head, 0)?;
    let end = head.as_span().end();
    let mut a = top.head(head)?;
    r.pos = end;
    r.expect_keyword("language")?;
    a.language = r.attrs()?.into_iter().map(|(k, v, _)| (k, v)).collect();
    if r.keyword("description") {
        a.description = Some(r.attrs()?.into_iter().map(|(k, v, _)| (k, v)).collect());
    }
    r.skip();
    let definition = top.run(Rule::definition, r.pos)?;
    let b = top.at(r.pos);
    r.pos += definition.as_span().end();
    let root = definition
        .into_inner()
        .find(|x| x.as_rule() == Rule::c_complex_object)
        .ok_or_else(|| b.err(0, "no definition"))?;
    a.definition = b.complex_object(root)?;
    r.skip();
    if text[r.pos..]
        .get(..9)
        .is_some_and(|w| w.eq_ignore_ascii_case("invariant"))
    {
        let invariant = top.run(Rule::invariant, r.pos)?;
        let b = top.at(r.pos);
        r.pos += invariant.as_span().end();
        a.invariant = Some(b.inner_text(invariant, Rule::invariant_text));
    }
    r.expect_keyword("ontology")?;
    let ontology_pos = Pos(r.pos);
    let attrs = r.attrs()?;
    a.ontology = top.ontology(attrs, ontology_pos)?;
    r.expect_end()?;
    Ok(a)
}

/// Turns pest's pairs of one part of the text into the model. `base` is where the part
/// starts in the whole text: pest's positions are relative to the part.
struct Builder<'t> {
    text: &'t str,
    source: &'t str,
    base: usize,
    /// How many object constraints are open.
    depth: std::cell::Cell<usize>,
}

impl<'t> Builder<'t> {
    /// An error at `offset` of the whole text.
    fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.source, self.text, offset, message.into())
    }

    /// An error at the start of `pair`.
    fn err_at(&self, pair: &Pair<'_>, message: impl Into<String>) -> ParseError {
        self.err(self.base + pair.as_span().start(), message)
    }

    /// Where `pair` starts in the whole text.
    fn pos(&self, pair: &Pair<'_>) -> Pos {
        Pos(self.base + pair.as_span().start())
    }

    /// A builder for pairs of the part that starts at `base`.
    fn at(&self, base: usize) -> Builder<'t> {
        Builder {
            text: self.text,
            source: self.source,
            base,
            depth: std::cell::Cell::new(0),
        }
    }

    /// The pair of `rule` matched at `start` of the text (the rule need not reach the end).
    fn run(&self, rule: Rule, start: usize) -> Result<Pair<'t>> {
        let part = &self.text[start..];
        let mut pairs =
            AdlParser::parse(rule, part).map_err(|e| self.at(start).pest_error(e, rule, true))?;
        pairs
            .next()
            .ok_or_else(|| self.err(start, "the parser produced nothing"))
    }

    /// The primitive dADL value in `text[start..end]`, read by the grammar.
    fn value_at(&self, start: usize, end: usize) -> Result<DadlPrim> {
        let part = &self.text[start..end];
        let b = self.at(start);
        let mut pairs = AdlParser::parse(Rule::dadl_value_only, part)
            .map_err(|e| b.pest_error_in(e, Rule::dadl_value_only, part, true))?;
        let pair = pairs
            .next()
            .ok_or_else(|| self.err(start, "a value expected"))?;
        b.prim(pair)
    }

    /// The error at the furthest point the parser reached. pest places its own error at the
    /// last rule it tried, which for a missing `]` or `}` can be lines earlier; the farthest
    /// literal it expected is known only when pest tracks its attempts, which is switched on
    /// (process-wide, and only while the parser is set up) for a second parse of text that
    /// failed, so that the first parse of every archetype runs at full speed.
    fn pest_error(&self, e: pest::error::Error<Rule>, rule: Rule, retry: bool) -> ParseError {
        let part = &self.text[self.base..];
        self.pest_error_in(e, rule, part, retry)
    }

    /// [`Self::pest_error`] for a parse of `part`, which starts at `self.base`.
    fn pest_error_in(
        &self,
        e: pest::error::Error<Rule>,
        rule: Rule,
        part: &str,
        retry: bool,
    ) -> ParseError {
        if retry {
            pest::set_error_detail(true);
            let again = AdlParser::parse(rule, part);
            pest::set_error_detail(false);
            if let Err(detailed) = again {
                if let Some(attempts) = detailed.parse_attempts() {
                    let tokens = attempts.expected_tokens();
                    let at = attempts.max_position.min(part.len());
                    let first = match e.location {
                        InputLocation::Pos(p) => p,
                        InputLocation::Span((s, _)) => s,
                    };
                    if at > first {
                        // Blanks and comments may come anywhere; they are not worth naming.
                        let mut expected: Vec<String> = tokens
                            .iter()
                            .map(|t| t.to_string())
                            .filter(|t| {
                                !(t.is_empty()
                                    || t.starts_with(char::is_whitespace)
                                    || t.starts_with('\u{feff}')
                                    || t == "--")
                            })
                            .map(|t| format!("`{t}`"))
                            .collect();
                        expected.dedup();
                        if expected.is_empty() {
                            expected.push("more text".to_owned());
                        }
                        return self.err(
                            self.base + at,
                            format!(
                                "expected {}, found {}",
                                expected.join(" or "),
                                found_at(&part[at..])
                            ),
                        );
                    }
                }
                return self.pest_error_in(detailed, rule, part, false);
            }
        }
        let offset = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        }
        .min(part.len());
        let found = found_at(&part[offset..]);
        let message = match e.variant {
            ErrorVariant::ParsingError { positives, .. } => {
                let mut expected: Vec<&str> = Vec::new();
                for r in positives {
                    let d = describe(r);
                    if !expected.contains(&d) {
                        expected.push(d);
                    }
                }
                if expected.is_empty() {
                    format!("unexpected {found}")
                } else {
                    format!("expected {}, found {found}", expected.join(" or "))
                }
            }
            ErrorVariant::CustomError { message } if message.contains("limit reached") => {
                "blocks nested too deeply for the parser".to_owned()
            }
            ErrorVariant::CustomError { message } => message,
        };
        self.err(self.base + offset, message)
    }

    // -------------------------------------------------------------- archetype

    /// The archetype of the header and concept, with empty sections.
    fn head(&self, pair: Pair<'_>) -> Result<Archetype> {
        let mut a = Archetype {
            meta: Vec::new(),
            archetype_id: String::new(),
            specialise: None,
            concept: String::new(),
            language: Vec::new(),
            description: None,
            definition: CComplexObject::new(String::new(), None),
            invariant: None,
            ontology: Ontology::default(),
            lines: LineIndex::new(self.text),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::header => {
                    for h in p.into_inner() {
                        match h.as_rule() {
                            Rule::head_meta => {
                                for item in h.into_inner() {
                                    let mut it = item.into_inner();
                                    let key = it.next().map(|k| k.as_str().to_owned());
                                    let value = it.next().map(|v| v.as_str().to_owned());
                                    a.meta.push((key.unwrap_or_default(), value));
                                }
                            }
                            Rule::archetype_id => a.archetype_id = self.archetype_id(&h)?,
                            _ => {}
                        }
                    }
                }
                Rule::specialise => {
                    let id = p.into_inner().find(|x| x.as_rule() == Rule::archetype_id);
                    if let Some(id) = id {
                        a.specialise = Some(self.archetype_id(&id)?);
                    }
                }
                Rule::concept => a.concept = self.inner_text(p, Rule::at_code),
                _ => {}
            }
        }
        Ok(a)
    }

    fn inner_text(&self, pair: Pair<'_>, rule: Rule) -> String {
        pair.into_inner()
            .find(|x| x.as_rule() == rule)
            .map(|x| x.as_str().trim().to_owned())
            .unwrap_or_default()
    }

    fn archetype_id(&self, pair: &Pair<'_>) -> Result<String> {
        let id = pair.as_str();
        if !crate::is_archetype_id(id) {
            return Err(self.err_at(
                pair,
                format!(
                    "`{id}` is not an archetype id (rm_originator-rm_name-rm_entity.concept.vN)"
                ),
            ));
        }
        Ok(id.to_owned())
    }

    // -------------------------------------------------------------- cADL

    fn complex_object(&self, pair: Pair<'_>) -> Result<CComplexObject> {
        let pos = self.pos(&pair);
        let depth = self.depth.get() + 1;
        if depth > MAX_NESTING {
            return Err(self.err(
                pos.0,
                format!("objects nested deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth.set(depth);
        let obj = self.complex_object_in(pair, pos);
        self.depth.set(depth - 1);
        obj
    }

    fn complex_object_in(&self, pair: Pair<'_>, pos: Pos) -> Result<CComplexObject> {
        let mut obj = CComplexObject::new(String::new(), None);
        obj.pos = pos;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::rm_type => obj.rm_type = p.as_str().to_owned(),
                Rule::node_id => obj.node_id = Some(self.inner_text(p, Rule::at_code)),
                Rule::occurrences => obj.occurrences = Some(self.range_of(p)?),
                Rule::any => obj.any = true,
                Rule::c_attribute => obj.attributes.push(self.attribute(p)?),
                _ => {}
            }
        }
        Ok(obj)
    }

    fn range_of(&self, pair: Pair<'_>) -> Result<Multiplicity> {
        let r = pair
            .into_inner()
            .find(|x| x.as_rule() == Rule::range)
            .ok_or_else(|| self.err(0, "range expected"))?;
        self.range(r)
    }

    fn range(&self, pair: Pair<'_>) -> Result<Multiplicity> {
        let mut it = pair.into_inner();
        let lower_pair = it.next().ok_or_else(|| self.err(0, "range expected"))?;
        let lower = self.count(&lower_pair)?;
        let upper = match it.next() {
            None => Some(lower),
            Some(u) if u.as_rule() == Rule::star => None,
            Some(u) => {
                let v = self.count(&u)?;
                if v < lower {
                    return Err(self.err_at(
                        &u,
                        format!("upper bound {v} is below the lower bound {lower}"),
                    ));
                }
                Some(v)
            }
        };
        Ok(Multiplicity { lower, upper })
    }

    fn count(&self, pair: &Pair<'_>) -> Result<u32> {
        pair.as_str()
            .parse()
            .map_err(|_| self.err_at(pair, format!("count `{}` is out of range", pair.as_str())))
    }

    fn attribute(&self, pair: Pair<'_>) -> Result<CAttribute> {
        let pos = self.pos(&pair);
        let mut attr = CAttribute {
            name: String::new(),
            existence: None,
            cardinality: None,
            any: false,
            children: Vec::new(),
            pos,
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::attr_name => attr.name = p.as_str().to_owned(),
                Rule::existence => attr.existence = Some(self.range_of(p)?),
                Rule::cardinality => {
                    let mut card = Cardinality {
                        interval: Multiplicity::new(0, None),
                        ordered: true,
                        unique: false,
                    };
                    for c in p.into_inner() {
                        match c.as_rule() {
                            Rule::range => card.interval = self.range(c)?,
                            Rule::card_flag => {
                                let f = c.as_str().to_ascii_lowercase();
                                match f.as_str() {
                                    "ordered" => card.ordered = true,
                                    "unordered" => card.ordered = false,
                                    _ => card.unique = true,
                                }
                            }
                            _ => {}
                        }
                    }
                    attr.cardinality = Some(card);
                }
                Rule::any => attr.any = true,
                Rule::c_complex_object => attr
                    .children
                    .push(CObject::Complex(self.complex_object(p)?)),
                Rule::archetype_slot => attr.children.push(CObject::Slot(self.slot(p)?)),
                Rule::internal_ref => attr
                    .children
                    .push(CObject::InternalRef(self.internal_ref(p)?)),
                Rule::constraint_ref => attr.children.push(CObject::ConstraintRef(ConstraintRef {
                    pos: self.pos(&p),
                    code: self.inner_text(p, Rule::ac_code),
                })),
                Rule::c_code_phrase => attr.children.push(CObject::CodePhrase(self.code_phrase(p))),
                Rule::c_ordinal => attr.children.push(CObject::Ordinal(self.ordinal(p)?)),
                Rule::c_domain => attr.children.push(self.domain(p)?),
                Rule::c_primitive => attr.children.push(CObject::Primitive(self.primitive(p)?)),
                _ => {}
            }
        }
        Ok(attr)
    }

    fn slot(&self, pair: Pair<'_>) -> Result<ArchetypeSlot> {
        let mut slot = ArchetypeSlot {
            rm_type: String::new(),
            node_id: None,
            occurrences: None,
            any: false,
            includes: Vec::new(),
            excludes: Vec::new(),
            pos: self.pos(&pair),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::rm_type => slot.rm_type = p.as_str().to_owned(),
                Rule::node_id => slot.node_id = Some(self.inner_text(p, Rule::at_code)),
                Rule::occurrences => slot.occurrences = Some(self.range_of(p)?),
                Rule::any => slot.any = true,
                Rule::include | Rule::exclude => {
                    let include = p.as_rule() == Rule::include;
                    for a in p.into_inner().filter(|a| a.as_rule() == Rule::assertion) {
                        let pos = self.pos(&a);
                        let mut path = String::new();
                        let mut constraint = None;
                        for x in a.into_inner() {
                            match x.as_rule() {
                                Rule::assertion_path => path = x.as_str().to_owned(),
                                Rule::c_primitive => constraint = Some(self.primitive(x)?),
                                _ => {}
                            }
                        }
                        let constraint = constraint
                            .ok_or_else(|| self.err(pos.0, "assertion without a constraint"))?;
                        let assertion = Assertion {
                            path,
                            constraint,
                            pos,
                        };
                        if include {
                            slot.includes.push(assertion);
                        } else {
                            slot.excludes.push(assertion);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(slot)
    }

    fn internal_ref(&self, pair: Pair<'_>) -> Result<InternalRef> {
        let mut r = InternalRef {
            rm_type: String::new(),
            occurrences: None,
            target: String::new(),
            pos: self.pos(&pair),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::rm_type => r.rm_type = p.as_str().to_owned(),
                Rule::occurrences => r.occurrences = Some(self.range_of(p)?),
                Rule::abs_path => r.target = p.as_str().to_owned(),
                _ => {}
            }
        }
        Ok(r)
    }

    fn code_phrase(&self, pair: Pair<'_>) -> CCodePhrase {
        let mut c = CCodePhrase {
            terminology: String::new(),
            codes: Vec::new(),
            assumed: None,
            pos: self.pos(&pair),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::terminology_id => c.terminology = p.as_str().to_owned(),
                Rule::code => c.codes.push(p.as_str().to_owned()),
                Rule::assumed_code => c.assumed = Some(p.as_str().trim().to_owned()),
                _ => {}
            }
        }
        c
    }

    fn ordinal(&self, pair: Pair<'_>) -> Result<CDvOrdinal> {
        let mut o = CDvOrdinal {
            items: Vec::new(),
            assumed: None,
            pos: self.pos(&pair),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ordinal_item => {
                    let mut it = p.into_inner();
                    let (Some(v), Some(t), Some(c)) = (it.next(), it.next(), it.next()) else {
                        return Err(self.err(o.pos.0, "incomplete ordinal"));
                    };
                    o.items.push(OrdinalItem {
                        value: self.integer(&v)?,
                        symbol: TermCode {
                            terminology: t.as_str().to_owned(),
                            code: c.as_str().to_owned(),
                        },
                    });
                }
                Rule::integer => o.assumed = Some(self.integer(&p)?),
                _ => {}
            }
        }
        Ok(o)
    }

    fn integer(&self, pair: &Pair<'_>) -> Result<i64> {
        pair.as_str()
            .parse()
            .map_err(|_| self.err_at(pair, format!("integer `{}` is out of range", pair.as_str())))
    }

    /// A domain type given in dADL.
    fn domain(&self, pair: Pair<'_>) -> Result<CObject> {
        let pos = self.pos(&pair);
        let mut it = pair.into_inner();
        let (Some(ty), Some(block)) = (it.next(), it.next()) else {
            return Err(self.err(pos.0, "incomplete domain type constraint"));
        };
        let value = |start: usize, end: usize| self.value_at(start, end);
        let mut reader = Reader::new(self.text, self.pos(&block).0, self.source, &value);
        let d = reader.block()?;
        let at = |m: &str| self.err(pos.0, format!("{}: {m}", ty.as_str()));
        match ty.as_str() {
            "C_DV_QUANTITY" => {
                let mut q = CDvQuantity {
                    property: None,
                    list: Vec::new(),
                    assumed: None,
                    pos,
                };
                for (k, v) in attrs_of(&d) {
                    match k.as_str() {
                        "property" => {
                            q.property = Some(
                                v.as_term_code()
                                    .cloned()
                                    .ok_or_else(|| at("property must be a term code"))?,
                            )
                        }
                        "list" => {
                            let Dadl::Keyed(entries) = v else {
                                return Err(at("list must be a keyed list"));
                            };
                            for e in entries {
                                q.list.push(quantity_item(&e.value).map_err(|m| at(&m))?);
                            }
                        }
                        "assumed_value" => {
                            q.assumed = Some(quantity_assumed(v).map_err(|m| at(&m))?)
                        }
                        other => return Err(at(&format!("unknown attribute `{other}`"))),
                    }
                }
                Ok(CObject::Quantity(q))
            }
            "C_DV_ORDINAL" => {
                let mut o = CDvOrdinal {
                    items: Vec::new(),
                    assumed: None,
                    pos,
                };
                for (k, v) in attrs_of(&d) {
                    match k.as_str() {
                        "list" | "items" => {
                            let Dadl::Keyed(entries) = v else {
                                return Err(at("list must be a keyed list"));
                            };
                            for e in entries {
                                o.items.push(ordinal_item(&e.value).map_err(|m| at(&m))?);
                            }
                        }
                        "assumed_value" => {
                            o.assumed = Some(match v.single() {
                                Some(DadlPrim::Integer(i)) => *i,
                                _ => ordinal_item(v).map_err(|m| at(&m))?.value,
                            })
                        }
                        other => return Err(at(&format!("unknown attribute `{other}`"))),
                    }
                }
                Ok(CObject::Ordinal(o))
            }
            "C_CODE_PHRASE" => {
                let mut c = CCodePhrase {
                    terminology: String::new(),
                    codes: Vec::new(),
                    assumed: None,
                    pos,
                };
                for (k, v) in attrs_of(&d) {
                    match k.as_str() {
                        "terminology_id" => {
                            c.terminology = v
                                .attr("value")
                                .and_then(Dadl::as_str)
                                .or_else(|| v.as_str())
                                .ok_or_else(|| at("terminology_id needs a value"))?
                                .to_owned()
                        }
                        "code_list" => {
                            let Dadl::Values { items, .. } = v else {
                                return Err(at("code_list must be a list of strings"));
                            };
                            for i in items {
                                let DadlPrim::String(s) = i else {
                                    return Err(at("code_list must be a list of strings"));
                                };
                                c.codes.push(s.clone());
                            }
                        }
                        "assumed_value" => {
                            c.assumed = Some(
                                v.as_term_code()
                                    .map(|t| t.code.clone())
                                    .or_else(|| {
                                        v.attr("code_string")
                                            .and_then(Dadl::as_str)
                                            .map(str::to_owned)
                                    })
                                    .ok_or_else(|| at("assumed_value must be a term code"))?,
                            )
                        }
                        other => return Err(at(&format!("unknown attribute `{other}`"))),
                    }
                }
                Ok(CObject::CodePhrase(c))
            }
            other => Err(self.err_at(&ty, format!("unknown domain type `{other}`"))),
        }
    }

    /// A primitive constraint, classified by the kind of its values.
    fn primitive(&self, pair: Pair<'_>) -> Result<CPrimitive> {
        let pos = self.pos(&pair);
        let mut pattern: Option<(Pair<'_>, String)> = None;
        let mut items: Vec<(Pair<'_>, DadlPrim)> = Vec::new();
        let mut assumed: Option<(Pair<'_>, DadlPrim)> = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::regex => {
                    let text = regex_text(&p);
                    pattern = Some((p, text));
                }
                Rule::temporal_pattern => {
                    let text = p.as_str().to_owned();
                    pattern = Some((p, text));
                }
                Rule::assumed_value => {
                    let v = p
                        .clone()
                        .into_inner()
                        .next()
                        .ok_or_else(|| self.err_at(&p, "assumed value expected"))?;
                    let prim = if v.as_rule() == Rule::regex {
                        DadlPrim::String(regex_text(&v))
                    } else {
                        self.prim(v.clone())?
                    };
                    assumed = Some((v, prim));
                }
                _ => {
                    let prim = self.prim(p.clone())?;
                    items.push((p, prim));
                }
            }
        }
        let kind = if let Some((p, text)) = pattern {
            if p.as_rule() == Rule::regex {
                PrimitiveKind::String {
                    values: Vec::new(),
                    pattern: Some(text),
                    assumed: match assumed {
                        Some((_, DadlPrim::String(s))) => Some(s),
                        Some((a, _)) => {
                            return Err(self.err_at(&a, "the assumed value must be a string"))
                        }
                        None => None,
                    },
                }
            } else {
                let kind = pattern_kind(&text);
                let items = items
                    .into_iter()
                    .map(|(p, v)| self.temporal_item(&p, v, kind))
                    .collect::<Result<Vec<_>>>()?;
                if !items.is_empty() && kind != TemporalKind::Duration {
                    return Err(self.err_at(&p, "only a duration pattern takes an interval"));
                }
                PrimitiveKind::Temporal {
                    kind,
                    pattern: Some(text),
                    items,
                    assumed: self.temporal_assumed(assumed, kind)?,
                }
            }
        } else {
            let first = items
                .first()
                .map(|(_, v)| v.clone())
                .ok_or_else(|| self.err(pos.0, "a constraint expected"))?;
            let first = match first {
                DadlPrim::Interval(i) => i
                    .lower
                    .or(i.upper)
                    .map(|b| *Box::new(b))
                    .unwrap_or(DadlPrim::Integer(0)),
                v => v,
            };
            match first {
                DadlPrim::String(_) => {
                    let mut values = Vec::new();
                    for (p, v) in items {
                        match v {
                            DadlPrim::String(s) => values.push(s),
                            _ => {
                                return Err(
                                    self.err_at(&p, "a string expected (the list mixes kinds)")
                                )
                            }
                        }
                    }
                    PrimitiveKind::String {
                        values,
                        pattern: None,
                        assumed: match assumed {
                            Some((_, DadlPrim::String(s))) => Some(s),
                            Some((a, _)) => {
                                return Err(self.err_at(&a, "the assumed value must be a string"))
                            }
                            None => None,
                        },
                    }
                }
                DadlPrim::Boolean(_) => {
                    let mut values = Vec::new();
                    for (p, v) in items {
                        match v {
                            DadlPrim::Boolean(b) => values.push(b),
                            _ => {
                                return Err(self
                                    .err_at(&p, "True or False expected (the list mixes kinds)"))
                            }
                        }
                    }
                    PrimitiveKind::Boolean {
                        values,
                        assumed: match assumed {
                            Some((_, DadlPrim::Boolean(b))) => Some(b),
                            Some((a, _)) => {
                                return Err(
                                    self.err_at(&a, "the assumed value must be True or False")
                                )
                            }
                            None => None,
                        },
                    }
                }
                DadlPrim::Integer(_) | DadlPrim::Real(_) => {
                    let real = items.iter().any(|(_, v)| has_real(v))
                        || matches!(assumed, Some((_, DadlPrim::Real(_))));
                    if real {
                        let items = items
                            .into_iter()
                            .map(|(p, v)| self.item(&p, v, as_real))
                            .collect::<Result<Vec<_>>>()?;
                        PrimitiveKind::Real {
                            items,
                            assumed: match assumed {
                                Some((a, v)) => Some(as_real(&v).ok_or_else(|| {
                                    self.err_at(&a, "the assumed value must be a number")
                                })?),
                                None => None,
                            },
                        }
                    } else {
                        let items = items
                            .into_iter()
                            .map(|(p, v)| self.item(&p, v, as_integer))
                            .collect::<Result<Vec<_>>>()?;
                        PrimitiveKind::Integer {
                            items,
                            assumed: match assumed {
                                Some((a, v)) => Some(as_integer(&v).ok_or_else(|| {
                                    self.err_at(&a, "the assumed value must be an integer")
                                })?),
                                None => None,
                            },
                        }
                    }
                }
                DadlPrim::Date(_)
                | DadlPrim::Time(_)
                | DadlPrim::DateTime(_)
                | DadlPrim::Duration(_) => {
                    let kind = temporal_kind(&first).unwrap_or(TemporalKind::Date);
                    let items = items
                        .into_iter()
                        .map(|(p, v)| self.temporal_item(&p, v, kind))
                        .collect::<Result<Vec<_>>>()?;
                    PrimitiveKind::Temporal {
                        kind,
                        pattern: None,
                        items,
                        assumed: self.temporal_assumed(assumed, kind)?,
                    }
                }
                _ => return Err(self.err(pos.0, "not a primitive constraint")),
            }
        };
        Ok(CPrimitive { kind, pos })
    }

    fn item<T: Clone>(
        &self,
        p: &Pair<'_>,
        v: DadlPrim,
        conv: fn(&DadlPrim) -> Option<T>,
    ) -> Result<Item<T>> {
        let bad = || self.err_at(p, "a number expected (the list mixes kinds)");
        match v {
            DadlPrim::Interval(i) => Ok(Item::Range(convert_interval(&i, conv).ok_or_else(bad)?)),
            v => Ok(Item::Value(conv(&v).ok_or_else(bad)?)),
        }
    }

    fn temporal_item(&self, p: &Pair<'_>, v: DadlPrim, kind: TemporalKind) -> Result<Item<String>> {
        let conv = |x: &DadlPrim| match temporal_kind(x) {
            Some(k) if k == kind => temporal_text(x),
            _ => None,
        };
        let bad = || {
            self.err_at(
                p,
                format!("a {kind:?} value expected (the list mixes kinds)"),
            )
        };
        match v {
            DadlPrim::Interval(i) => Ok(Item::Range(
                convert_interval(&i, |x| conv(x)).ok_or_else(bad)?,
            )),
            v => Ok(Item::Value(conv(&v).ok_or_else(bad)?)),
        }
    }

    fn temporal_assumed(
        &self,
        assumed: Option<(Pair<'_>, DadlPrim)>,
        kind: TemporalKind,
    ) -> Result<Option<String>> {
        match assumed {
            None => Ok(None),
            Some((p, v)) => match temporal_kind(&v) {
                Some(k) if k == kind => Ok(temporal_text(&v)),
                _ => Err(self.err_at(&p, format!("the assumed value must be a {kind:?}"))),
            },
        }
    }

    // -------------------------------------------------------------- dADL values

    fn prim(&self, pair: Pair<'_>) -> Result<DadlPrim> {
        Ok(match pair.as_rule() {
            Rule::string => DadlPrim::String(unescape(
                pair.into_inner().next().map(|p| p.as_str()).unwrap_or(""),
            )),
            Rule::character => DadlPrim::Character(
                pair.into_inner()
                    .next()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            Rule::boolean => DadlPrim::Boolean(pair.as_str().eq_ignore_ascii_case("true")),
            Rule::number | Rule::integer => {
                let s = pair.as_str();
                if s.contains(['.', 'e', 'E']) {
                    DadlPrim::Real(
                        s.parse().map_err(|_| {
                            self.err_at(&pair, format!("number `{s}` is out of range"))
                        })?,
                    )
                } else {
                    DadlPrim::Integer(self.integer(&pair)?)
                }
            }
            Rule::date => DadlPrim::Date(pair.as_str().to_owned()),
            Rule::time => DadlPrim::Time(pair.as_str().to_owned()),
            Rule::date_time => DadlPrim::DateTime(pair.as_str().to_owned()),
            Rule::duration => DadlPrim::Duration(pair.as_str().to_owned()),
            Rule::uri => DadlPrim::Uri(pair.as_str().to_owned()),
            Rule::term_code => {
                let mut t = TermCode {
                    terminology: String::new(),
                    code: String::new(),
                };
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::terminology_id => t.terminology = p.as_str().to_owned(),
                        Rule::code => t.code = p.as_str().to_owned(),
                        _ => {}
                    }
                }
                DadlPrim::TermCode(t)
            }
            Rule::interval => self.interval(pair)?,
            _ => return Err(self.err_at(&pair, "a value expected")),
        })
    }

    fn interval(&self, pair: Pair<'_>) -> Result<DadlPrim> {
        let whole = pair.clone();
        let inner = pair
            .into_inner()
            .next()
            .ok_or_else(|| self.err_at(&whole, "interval expected"))?;
        let mut i = Interval {
            lower: None,
            upper: None,
            lower_included: true,
            upper_included: true,
        };
        match inner.as_rule() {
            Rule::interval_range => {
                let mut seen_lower = false;
                for p in inner.into_inner() {
                    match p.as_rule() {
                        Rule::lower_open => i.lower_included = false,
                        Rule::upper_open => i.upper_included = false,
                        Rule::star => {
                            i.upper = None;
                            i.upper_included = false;
                        }
                        _ => {
                            let v = self.prim(p)?;
                            if seen_lower {
                                i.upper = Some(v);
                            } else {
                                i.lower = Some(v);
                                seen_lower = true;
                            }
                        }
                    }
                }
                if let (Some(l), Some(u)) = (&i.lower, &i.upper) {
                    if matches!(l.partial_cmp(u), Some(std::cmp::Ordering::Greater)) {
                        return Err(self
                            .err_at(&whole, "the interval's lower bound exceeds its upper bound"));
                    }
                }
            }
            Rule::interval_rel => {
                let mut it = inner.into_inner();
                let (Some(op), Some(v)) = (it.next(), it.next()) else {
                    return Err(self.err_at(&whole, "interval expected"));
                };
                let v = self.prim(v)?;
                match op.as_str() {
                    ">=" | ">" => {
                        i.lower_included = op.as_str() == ">=";
                        i.lower = Some(v);
                        i.upper_included = false;
                    }
                    _ => {
                        i.upper_included = op.as_str() == "<=";
                        i.upper = Some(v);
                        i.lower_included = false;
                    }
                }
            }
            _ => {
                let v = self.prim(inner)?;
                i.lower = Some(v.clone());
                i.upper = Some(v);
            }
        }
        Ok(DadlPrim::Interval(Box::new(i)))
    }

    // -------------------------------------------------------------- ontology

    fn ontology(&self, attrs: Vec<(String, Dadl, Pos)>, pos: Pos) -> Result<Ontology> {
        let mut o = Ontology {
            pos,
            ..Ontology::default()
        };
        for (k, v, at) in attrs {
            let bad = |m: &str| self.err(at.0, format!("ontology {k}: {m}"));
            match k.as_str() {
                "terminologies_available" => match &v {
                    Dadl::Values { items, .. } => {
                        for i in items {
                            let DadlPrim::String(s) = i else {
                                return Err(bad("a list of strings expected"));
                            };
                            o.terminologies_available.push(s.clone());
                        }
                    }
                    Dadl::Empty => {}
                    _ => return Err(bad("a list of strings expected")),
                },
                "term_definitions" | "constraint_definitions" => {
                    let defs = definitions(v).map_err(|m| bad(&m))?;
                    if k == "term_definitions" {
                        o.term_definitions = defs;
                    } else {
                        o.constraint_definitions = defs;
                    }
                }
                "term_bindings" | "constraint_bindings" => {
                    let b = bindings(v).map_err(|m| bad(&m))?;
                    if k == "term_bindings" {
                        o.term_bindings = b;
                    } else {
                        o.constraint_bindings = b;
                    }
                }
                _ => o.other.push((k, v)),
            }
        }
        Ok(o)
    }
}

/// `["en"] = < items = < ["at0000"] = < text = <"…"> description = <"…"> > > >`
fn definitions(v: Dadl) -> std::result::Result<Definitions, String> {
    let Dadl::Keyed(langs) = v else {
        return Err("a keyed list of languages expected".into());
    };
    let mut out = Vec::with_capacity(langs.len());
    for l in langs {
        let lang = l.key.key_text().ok_or("a language key expected")?;
        let mut terms = Vec::new();
        match take_items(l.value) {
            Some(Dadl::Keyed(entries)) => {
                terms.reserve(entries.len());
                for e in entries {
                    let code = e.key.key_text().ok_or("a code key expected")?;
                    let mut items = Vec::new();
                    match e.value {
                        Dadl::Attrs(a) => {
                            items.reserve(a.len());
                            for (k, v) in a {
                                let s = match v {
                                    Dadl::Values {
                                        mut items,
                                        list: false,
                                    } if items.len() == 1 => match items.pop() {
                                        Some(DadlPrim::String(s)) => Some(s),
                                        _ => None,
                                    },
                                    _ => None,
                                };
                                let s = s.ok_or_else(|| {
                                    format!("[{lang}] {code}: `{k}` must be one string")
                                })?;
                                items.push((k, s));
                            }
                        }
                        Dadl::Empty => {}
                        _ => return Err(format!("[{lang}] {code}: term items expected")),
                    }
                    terms.push(ArchetypeTerm {
                        code,
                        items,
                        pos: e.pos,
                    });
                }
            }
            Some(Dadl::Empty) | None => {}
            Some(_) => return Err(format!("[{lang}]: `items` must be a keyed list of terms")),
        }
        out.push((lang, terms));
    }
    Ok(out)
}

/// The `items` attribute of a language's or terminology's block.
fn take_items(d: Dadl) -> Option<Dadl> {
    match d {
        Dadl::Attrs(a) => a.into_iter().find(|(k, _)| k == "items").map(|(_, v)| v),
        _ => None,
    }
}

/// `["SNOMED-CT"] = < items = < ["at0001"] = <[SNOMED-CT::123]> > >`
fn bindings(v: Dadl) -> std::result::Result<Bindings, String> {
    let Dadl::Keyed(terms) = v else {
        return Err("a keyed list of terminologies expected".into());
    };
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        let name = t.key.key_text().ok_or("a terminology key expected")?;
        let mut items = Vec::new();
        match take_items(t.value) {
            Some(Dadl::Keyed(entries)) => {
                for e in entries {
                    let code = e.key.key_text().ok_or("a code key expected")?;
                    items.push((code, e.value));
                }
            }
            Some(Dadl::Empty) | None => {}
            Some(_) => return Err(format!("[{name}]: `items` must be a keyed list")),
        }
        out.push((name, items));
    }
    Ok(out)
}

fn attrs_of(d: &Dadl) -> Vec<(String, &Dadl)> {
    match d {
        Dadl::Attrs(a) => a.iter().map(|(k, v)| (k.clone(), v)).collect(),
        _ => Vec::new(),
    }
}

fn quantity_item(d: &Dadl) -> std::result::Result<QuantityItem, String> {
    let mut q = QuantityItem {
        units: String::new(),
        magnitude: None,
        precision: None,
    };
    for (k, v) in attrs_of(d) {
        match k.as_str() {
            "units" => q.units = v.as_str().ok_or("units must be a string")?.to_owned(),
            "magnitude" => {
                q.magnitude = Some(
                    single_interval(v, as_real).ok_or("magnitude must be an interval of reals")?,
                )
            }
            "precision" => {
                q.precision = Some(
                    single_interval(v, as_integer)
                        .ok_or("precision must be an interval of integers")?,
                )
            }
            other => return Err(format!("unknown attribute `{other}` in list")),
        }
    }
    Ok(q)
}

fn quantity_assumed(d: &Dadl) -> std::result::Result<QuantityAssumed, String> {
    let mut q = QuantityAssumed {
        units: None,
        magnitude: None,
        precision: None,
    };
    for (k, v) in attrs_of(d) {
        match k.as_str() {
            "units" => q.units = Some(v.as_str().ok_or("units must be a string")?.to_owned()),
            "magnitude" => {
                q.magnitude = Some(
                    v.single()
                        .and_then(as_real)
                        .ok_or("magnitude must be a number")?,
                )
            }
            "precision" => {
                q.precision = Some(
                    v.single()
                        .and_then(as_integer)
                        .ok_or("precision must be an integer")?,
                )
            }
            other => return Err(format!("unknown attribute `{other}` in assumed_value")),
        }
    }
    Ok(q)
}

fn ordinal_item(d: &Dadl) -> std::result::Result<OrdinalItem, String> {
    let value = d
        .attr("value")
        .and_then(Dadl::single)
        .and_then(as_integer)
        .ok_or("an ordinal needs an integer value")?;
    let symbol = d.attr("symbol").ok_or("an ordinal needs a symbol")?;
    let symbol = symbol
        .as_term_code()
        .or_else(|| symbol.attr("defining_code").and_then(Dadl::as_term_code))
        .ok_or("an ordinal's symbol must be a term code")?
        .clone();
    Ok(OrdinalItem { value, symbol })
}

fn single_interval<T>(d: &Dadl, conv: fn(&DadlPrim) -> Option<T>) -> Option<Interval<T>> {
    match d.single()? {
        DadlPrim::Interval(i) => convert_interval(i, conv),
        v => {
            let x = conv(v)?;
            let y = conv(v)?;
            Some(Interval {
                lower: Some(x),
                upper: Some(y),
                lower_included: true,
                upper_included: true,
            })
        }
    }
}

fn convert_interval<T>(
    i: &Interval<DadlPrim>,
    conv: impl Fn(&DadlPrim) -> Option<T>,
) -> Option<Interval<T>> {
    Some(Interval {
        lower: match &i.lower {
            Some(v) => Some(conv(v)?),
            None => None,
        },
        upper: match &i.upper {
            Some(v) => Some(conv(v)?),
            None => None,
        },
        lower_included: i.lower_included,
        upper_included: i.upper_included,
    })
}

fn as_real(v: &DadlPrim) -> Option<f64> {
    match v {
        DadlPrim::Real(r) => Some(*r),
        DadlPrim::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

fn as_integer(v: &DadlPrim) -> Option<i64> {
    match v {
        DadlPrim::Integer(i) => Some(*i),
        _ => None,
    }
}

fn has_real(v: &DadlPrim) -> bool {
    match v {
        DadlPrim::Real(_) => true,
        DadlPrim::Interval(i) => {
            i.lower.as_ref().is_some_and(has_real) || i.upper.as_ref().is_some_and(has_real)
        }
        _ => false,
    }
}

fn temporal_kind(v: &DadlPrim) -> Option<TemporalKind> {
    match v {
        DadlPrim::Date(_) => Some(TemporalKind::Date),
        DadlPrim::Time(_) => Some(TemporalKind::Time),
        DadlPrim::DateTime(_) => Some(TemporalKind::DateTime),
        DadlPrim::Duration(_) => Some(TemporalKind::Duration),
        _ => None,
    }
}

fn temporal_text(v: &DadlPrim) -> Option<String> {
    match v {
        DadlPrim::Date(s) | DadlPrim::Time(s) | DadlPrim::DateTime(s) | DadlPrim::Duration(s) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// The temporal kind a pattern constrains.
fn pattern_kind(p: &str) -> TemporalKind {
    if p.starts_with('P') {
        TemporalKind::Duration
    } else if p.starts_with("yyyy") && p.contains('T') {
        TemporalKind::DateTime
    } else if p.starts_with("yyyy") {
        TemporalKind::Date
    } else {
        TemporalKind::Time
    }
}

fn regex_text(p: &Pair<'_>) -> String {
    let s = p.as_str();
    let inner = &s[1..s.len() - 1];
    if s.starts_with('/') {
        inner.replace("\\/", "/")
    } else {
        inner.to_owned()
    }
}

/// Undoes `\"` and `\\`; any other backslash stays as written.
pub(crate) fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('"' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What stands at the start of `rest`, for "found …".
fn found_at(rest: &str) -> String {
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(24)
        .collect();
    if rest.is_empty() {
        "end of input".to_owned()
    } else if word.is_empty() {
        "a blank".to_owned()
    } else {
        format!("`{word}`")
    }
}

/// A readable name of a grammar rule, for "expected …" messages.
fn describe(r: Rule) -> &'static str {
    match r {
        Rule::kw_archetype => "`archetype`",
        Rule::kw_specialise => "`specialise`",
        Rule::kw_concept => "`concept`",
        Rule::kw_definition => "`definition`",
        Rule::kw_invariant => "`invariant`",
        Rule::kw_ontology => "`ontology`",
        Rule::kw_matches => "`matches`",
        Rule::kw_occurrences => "`occurrences`",
        Rule::kw_existence => "`existence`",
        Rule::kw_cardinality => "`cardinality`",
        Rule::kw_include => "`include`",
        Rule::kw_exclude => "`exclude`",
        Rule::card_flag => "`ordered`, `unordered` or `unique`",
        Rule::archetype_id => "an archetype id",
        Rule::head_meta => "`(`",
        Rule::at_code | Rule::node_id => "an at-code",
        Rule::ac_code => "an ac-code",
        Rule::rm_type => "an RM type name",
        Rule::attr_name => "an attribute name",
        Rule::c_attribute => "an attribute constraint",
        Rule::c_complex_object => "an object constraint",
        Rule::archetype_slot | Rule::kw_allow_archetype => "`allow_archetype`",
        Rule::internal_ref | Rule::kw_use_node => "`use_node`",
        Rule::c_primitive | Rule::prim_value => "a primitive constraint",
        Rule::c_ordinal | Rule::ordinal_item => "an ordinal",
        Rule::c_code_phrase | Rule::term_code => "a term code",
        Rule::constraint_ref => "a constraint reference",
        Rule::c_domain => "a domain type constraint",
        Rule::dadl_raw => "`<`",
        Rule::ident => "a name",
        Rule::any | Rule::star => "`*`",
        Rule::range | Rule::count => "a count",
        Rule::string => "a string",
        Rule::regex => "a regular expression",
        Rule::interval => "an interval",
        Rule::integer | Rule::number => "a number",
        Rule::EOI => "end of input",
        _ => "something else",
    }
}

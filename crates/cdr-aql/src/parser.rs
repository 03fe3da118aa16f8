//! From text to [`Query`]: a cheap nesting check, the pest parser generated
//! from `aql-grammar/aql.pest`, and the builder that turns pest's pairs into
//! the typed AST.

use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;

use crate::ast::*;
use crate::error::{ParseError, ParseErrorKind};
use crate::span::{AttachedSpan, Span, Spanned};
use crate::MAX_NESTING;

mod grammar {
    #![allow(missing_docs)]
    //! The generated parser.

    /// The pest parser for `aql.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../../aql-grammar/aql.pest"]
    pub(crate) struct AqlParser;
}

use grammar::{AqlParser, Rule};

type Pair<'i> = pest::iterators::Pair<'i, Rule>;
type Result<T> = std::result::Result<T, ParseError>;

/// Parses one AQL query.
pub(crate) fn parse(text: &str) -> Result<Query> {
    check_nesting(text)?;
    let mut pairs = AqlParser::parse(Rule::query, text).map_err(|e| convert_pest_error(text, e))?;
    let b = Builder { text };
    let query = pairs
        .next()
        .ok_or_else(|| b.internal(Span::new(0, text.len()), "no query pair"))?;
    b.query(query)
}

// ------------------------------------------------------------------ nesting

/// Rejects input whose `(`, `[` and `{` nest deeper than [`MAX_NESTING`],
/// before pest recurses into it. Quoted strings and `--` comments are
/// skipped. The scan does not know the other lexical forms (a quote inside a
/// regex or a term code's `|text|` may hide brackets from it); the builder's
/// depth limit and pest's own stack guard cover what it misses.
fn check_nesting(text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError::new(
                        text,
                        ParseErrorKind::TooDeep { limit: MAX_NESTING },
                        Span::new(i, i + 1),
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

// ------------------------------------------------------------------ errors

fn convert_pest_error(text: &str, err: pest::error::Error<Rule>) -> ParseError {
    let offset = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let rest = &text[offset..];
    if let Some(len) = unterminated_string(rest) {
        return ParseError::new(
            text,
            ParseErrorKind::UnterminatedString,
            Span::new(offset, offset + len),
        );
    }
    let found_len = token_len(rest);
    let found = if rest.is_empty() {
        "end of input".to_owned()
    } else {
        format!("`{}`", &rest[..found_len])
    };
    let kind = match err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<String> = Vec::new();
            for rule in positives {
                let name = describe(rule).to_owned();
                if !expected.contains(&name) {
                    expected.push(name);
                }
            }
            ParseErrorKind::Syntax { expected, found }
        }
        ErrorVariant::CustomError { message } => ParseErrorKind::Internal(message),
    };
    ParseError::new(text, kind, Span::new(offset, offset + found_len))
}

/// If `rest` starts with a quote that is never closed, the length of the rest.
fn unterminated_string(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    let quote = *bytes.first().filter(|q| matches!(q, b'\'' | b'"'))?;
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            return None;
        }
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    Some(rest.len())
}

/// Byte length of the token at the start of `rest`: a word, or one character.
fn token_len(rest: &str) -> usize {
    let word = rest
        .char_indices()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
        .take(40)
        .last()
        .map_or(0, |(i, c)| i + c.len_utf8());
    if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

/// A readable name for what a grammar rule stands for.
fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of input",
        Rule::WHITESPACE | Rule::COMMENT => "a blank",
        Rule::query | Rule::select_clause | Rule::kw_select => "SELECT",
        Rule::top | Rule::kw_top => "TOP",
        Rule::select_column | Rule::column_expr => "a column expression",
        Rule::from_clause | Rule::kw_from => "FROM",
        Rule::where_clause | Rule::kw_where => "WHERE",
        Rule::order_by_clause | Rule::kw_order => "ORDER BY",
        Rule::order_key => "a sort key",
        Rule::sort_direction => "ASC or DESC",
        Rule::limit_clause | Rule::kw_limit => "LIMIT",
        Rule::containment | Rule::contains_and | Rule::contains_chain => "a class expression",
        Rule::contains_term => "a class expression or '('",
        Rule::contains_group => "'('",
        Rule::contains_op => "CONTAINS",
        Rule::class_expr | Rule::rm_class_expr => "a class expression",
        Rule::version_class_expr | Rule::kw_version => "VERSION",
        Rule::version_predicate => "LATEST_VERSION, ALL_VERSIONS or a standard predicate",
        Rule::standard_predicate => "a standard predicate",
        Rule::identified_path => "a path",
        Rule::object_path | Rule::path_part => "a path",
        Rule::predicate => "'['",
        Rule::predicate_or | Rule::predicate_and => "a predicate",
        Rule::predicate_term => "a predicate",
        Rule::predicate_group => "'('",
        Rule::path_predicate => "a path",
        Rule::node_predicate => "a node id",
        Rule::archetype_predicate => "an archetype id or parameter",
        Rule::node_name => "a name (string, parameter or code)",
        Rule::predicate_operand => "a value, parameter, code or path",
        Rule::contained_regex => "a regular expression {/.../}",
        Rule::regex_body => "a regular expression",
        Rule::blank => "a blank",
        Rule::where_or | Rule::where_and | Rule::where_not => "a condition",
        Rule::where_group => "'('",
        Rule::exists_expr | Rule::kw_exists => "EXISTS",
        Rule::condition | Rule::left_operand => "a path or function call",
        Rule::terminal => "a value, parameter, path or function call",
        Rule::like_operand => "a string or parameter",
        Rule::matches_operand => "'{', a parameter or TERMINOLOGY",
        Rule::value_list | Rule::uri_list => "'{'",
        Rule::value_item => "a list item",
        Rule::uri => "a URI",
        Rule::aggregate => "an aggregate",
        Rule::aggregate_name => "MIN, MAX, SUM or AVG",
        Rule::terminology_call | Rule::kw_terminology => "TERMINOLOGY",
        Rule::function_call => "a function call",
        Rule::function_name => "a function name",
        Rule::variable => "a variable",
        Rule::class_name => "a class name",
        Rule::alias => "an alias",
        Rule::attribute_name => "an attribute name",
        Rule::ident | Rule::ident_char => "an identifier",
        Rule::reserved => "a reserved word",
        Rule::parameter => "a parameter",
        Rule::at_code => "an at-code",
        Rule::id_code => "an id-code",
        Rule::archetype_id | Rule::archetype_namespace | Rule::namespace_label => "an archetype id",
        Rule::term_code => "a terminology code",
        Rule::term_terminology => "a terminology id",
        Rule::term_version => "a terminology version",
        Rule::term_code_string => "a code",
        Rule::term_text => "a term text",
        Rule::term_char => "a code character",
        Rule::literal => "a literal",
        Rule::string => "a string",
        Rule::number => "a number",
        Rule::boolean => "true or false",
        Rule::null => "NULL",
        Rule::unsigned_integer => "an integer",
        Rule::comparison_op => "a comparison operator",
        Rule::lparen => "'('",
        Rule::rparen => "')'",
        Rule::lbracket => "'['",
        Rule::rbracket => "']'",
        Rule::lbrace => "'{'",
        Rule::rbrace => "'}'",
        Rule::comma => "','",
        Rule::slash => "'/'",
        Rule::star => "'*'",
        Rule::kw_by => "BY",
        Rule::kw_offset => "OFFSET",
        Rule::kw_as => "AS",
        Rule::kw_and => "AND",
        Rule::kw_or => "OR",
        Rule::kw_not => "NOT",
        Rule::kw_contains => "CONTAINS",
        Rule::kw_like => "LIKE",
        Rule::kw_matches => "MATCHES",
        Rule::kw_distinct => "DISTINCT",
        Rule::kw_forward => "FORWARD",
        Rule::kw_backward => "BACKWARD",
        Rule::kw_asc => "ASC",
        Rule::kw_ascending => "ASCENDING",
        Rule::kw_desc => "DESC",
        Rule::kw_descending => "DESCENDING",
        Rule::kw_latest_version => "LATEST_VERSION",
        Rule::kw_all_versions => "ALL_VERSIONS",
        Rule::kw_count => "COUNT",
    }
}

// ------------------------------------------------------------------ builder

/// Rules the builder never needs to see: punctuation and keywords whose
/// presence the surrounding rule already implies.
fn is_noise(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::EOI
            | Rule::lparen
            | Rule::rparen
            | Rule::lbracket
            | Rule::rbracket
            | Rule::lbrace
            | Rule::rbrace
            | Rule::comma
            | Rule::slash
            | Rule::kw_select
            | Rule::kw_from
            | Rule::kw_where
            | Rule::kw_order
            | Rule::kw_by
            | Rule::kw_limit
            | Rule::kw_offset
            | Rule::kw_as
            | Rule::kw_and
            | Rule::kw_or
            | Rule::kw_contains
            | Rule::kw_exists
            | Rule::kw_like
            | Rule::kw_matches
            | Rule::kw_top
            | Rule::kw_version
            | Rule::kw_terminology
    )
}

/// The span of a pair without the blanks and comments pest lets a rule
/// swallow after its last token: it ends where the last descendant ends.
fn span_of(pair: &Pair<'_>) -> Span {
    let start = pair.as_span().start();
    let mut last = pair.clone();
    while let Some(child) = last.clone().into_inner().next_back() {
        last = child;
    }
    Span::new(start, last.as_span().end())
}

fn attached(pair: &Pair<'_>) -> AttachedSpan {
    AttachedSpan(span_of(pair))
}

/// The meaningful children of a pair, consumed front to back.
struct Children<'i> {
    items: std::vec::IntoIter<Pair<'i>>,
    peeked: Option<Pair<'i>>,
    /// Where the parent starts, for internal errors.
    parent: Span,
}

impl<'i> Children<'i> {
    fn of(pair: Pair<'i>) -> Self {
        let start = pair.as_span().start();
        let parent = Span::new(start, start);
        let items: Vec<Pair<'i>> = pair
            .into_inner()
            .filter(|p| !is_noise(p.as_rule()))
            .collect();
        Children {
            items: items.into_iter(),
            peeked: None,
            parent,
        }
    }

    fn next(&mut self) -> Option<Pair<'i>> {
        self.peeked.take().or_else(|| self.items.next())
    }

    fn peek_rule(&mut self) -> Option<Rule> {
        if self.peeked.is_none() {
            self.peeked = self.items.next();
        }
        self.peeked.as_ref().map(Pair::as_rule)
    }

    fn next_if(&mut self, rule: Rule) -> Option<Pair<'i>> {
        if self.peek_rule() == Some(rule) {
            self.next()
        } else {
            None
        }
    }

    /// The next child, which the grammar guarantees is there.
    fn required(&mut self, b: &Builder<'_>) -> Result<Pair<'i>> {
        let parent = self.parent;
        self.next()
            .ok_or_else(|| b.internal(parent, "missing child in the parse tree"))
    }
}

struct Builder<'t> {
    text: &'t str,
}

impl Builder<'_> {
    fn error(&self, kind: ParseErrorKind, span: Span) -> ParseError {
        ParseError::new(self.text, kind, span)
    }

    fn internal(&self, span: Span, what: &str) -> ParseError {
        self.error(ParseErrorKind::Internal(what.to_owned()), span)
    }

    fn unexpected(&self, pair: &Pair<'_>) -> ParseError {
        self.internal(
            span_of(pair),
            &format!("unexpected {:?} in the parse tree", pair.as_rule()),
        )
    }

    fn check_depth(&self, depth: usize, span: Span) -> Result<()> {
        if depth > MAX_NESTING {
            Err(self.error(ParseErrorKind::TooDeep { limit: MAX_NESTING }, span))
        } else {
            Ok(())
        }
    }

    // ---------------------------------------------------------- query

    fn query(&self, pair: Pair<'_>) -> Result<Query> {
        let mut c = Children::of(pair);
        let select = self.select(c.required(self)?)?;
        let from_clause = c.required(self)?;
        let from = self.containment(Children::of(from_clause).required(self)?, 0)?;
        let mut end = from.span().end;
        let mut where_clause = None;
        if let Some(w) = c.next_if(Rule::where_clause) {
            end = span_of(&w).end;
            where_clause = Some(self.where_or(Children::of(w).required(self)?, 0)?);
        }
        let mut order_by = Vec::new();
        if let Some(o) = c.next_if(Rule::order_by_clause) {
            end = span_of(&o).end;
            for key in Children::of(o).items {
                order_by.push(self.order_key(key)?);
            }
        }
        let mut limit = None;
        if let Some(l) = c.next_if(Rule::limit_clause) {
            end = span_of(&l).end;
            limit = Some(self.limit(l)?);
        }
        let span = AttachedSpan(Span::new(select.span().start, end));
        Ok(Query {
            select,
            from,
            where_clause,
            order_by,
            limit,
            span,
        })
    }

    fn select(&self, pair: Pair<'_>) -> Result<Select> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let distinct = c.next_if(Rule::kw_distinct).is_some();
        let top = match c.next_if(Rule::top) {
            Some(t) => Some(self.top(t)?),
            None => None,
        };
        let mut columns = Vec::new();
        while let Some(col) = c.next() {
            columns.push(self.select_column(col)?);
        }
        Ok(Select {
            distinct,
            top,
            columns,
            span,
        })
    }

    fn top(&self, pair: Pair<'_>) -> Result<Top> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let count = self.unsigned(c.required(self)?)?;
        let direction = match c.next().map(|p| p.as_rule()) {
            Some(Rule::kw_forward) => Some(TopDirection::Forward),
            Some(Rule::kw_backward) => Some(TopDirection::Backward),
            _ => None,
        };
        Ok(Top {
            count,
            direction,
            span,
        })
    }

    fn select_column(&self, pair: Pair<'_>) -> Result<SelectColumn> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let expr_pair = Children::of(c.required(self)?).required(self)?;
        let expr = match expr_pair.as_rule() {
            Rule::aggregate => ColumnExpr::Aggregate(self.aggregate(expr_pair)?),
            Rule::terminology_call => ColumnExpr::Terminology(self.terminology(expr_pair)?),
            Rule::function_call => ColumnExpr::Function(self.function_call(expr_pair, 0)?),
            Rule::literal => ColumnExpr::Literal(self.literal(expr_pair)?),
            Rule::identified_path => ColumnExpr::Path(self.identified_path(expr_pair, 0)?),
            _ => return Err(self.unexpected(&expr_pair)),
        };
        let alias = c.next().map(|a| self.ident(&a));
        Ok(SelectColumn { expr, alias, span })
    }

    fn order_key(&self, pair: Pair<'_>) -> Result<OrderBy> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let path = self.identified_path(c.required(self)?, 0)?;
        let direction = match c.next() {
            Some(dir) => match Children::of(dir).next().map(|p| p.as_rule()) {
                Some(Rule::kw_desc | Rule::kw_descending) => SortDirection::Descending,
                _ => SortDirection::Ascending,
            },
            None => SortDirection::Ascending,
        };
        Ok(OrderBy {
            path,
            direction,
            span,
        })
    }

    fn limit(&self, pair: Pair<'_>) -> Result<Limit> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let row_count = self.unsigned(c.required(self)?)?;
        let offset = match c.next() {
            Some(o) => Some(self.unsigned(o)?),
            None => None,
        };
        Ok(Limit {
            row_count,
            offset,
            span,
        })
    }

    // ---------------------------------------------------------- FROM

    fn containment(&self, pair: Pair<'_>, depth: usize) -> Result<Containment> {
        let span = attached(&pair);
        self.check_depth(depth, span.get())?;
        let mut items = Vec::new();
        for and in Children::of(pair).items {
            items.push(self.contains_and(and, depth)?);
        }
        Ok(one_or(items, span, ContainmentKind::Or))
    }

    fn contains_and(&self, pair: Pair<'_>, depth: usize) -> Result<Containment> {
        let span = attached(&pair);
        let mut items = Vec::new();
        for term in Children::of(pair).items {
            items.push(match term.as_rule() {
                Rule::contains_chain => self.contains_chain(term, depth)?,
                Rule::contains_group => {
                    self.containment(Children::of(term).required(self)?, depth + 1)?
                }
                _ => return Err(self.unexpected(&term)),
            });
        }
        Ok(one_or(items, span, ContainmentKind::And))
    }

    fn contains_chain(&self, pair: Pair<'_>, depth: usize) -> Result<Containment> {
        let mut c = Children::of(pair);
        let mut classes = vec![self.class_expr(c.required(self)?)?];
        let mut negations = Vec::new();
        let mut last = None;
        while let Some(op) = c.next() {
            let negated = Children::of(op).next_if(Rule::kw_not).is_some();
            negations.push(negated);
            let depth = depth + negations.len();
            let operand = c.required(self)?;
            self.check_depth(depth, span_of(&operand))?;
            match operand.as_rule() {
                Rule::class_expr => classes.push(self.class_expr(operand)?),
                Rule::contains_group => {
                    last = Some(self.containment(Children::of(operand).required(self)?, depth + 1)?)
                }
                _ => return Err(self.unexpected(&operand)),
            }
        }
        let mut acc = match last {
            Some(group) => group,
            None => {
                let class = classes
                    .pop()
                    .ok_or_else(|| self.internal(c.parent, "empty containment chain"))?;
                Containment {
                    span: AttachedSpan(class.span()),
                    kind: ContainmentKind::Class(class),
                }
            }
        };
        while let (Some(outer), Some(negated)) = (classes.pop(), negations.pop()) {
            acc = Containment {
                span: AttachedSpan(outer.span().to(acc.span())),
                kind: ContainmentKind::Contains {
                    outer,
                    negated,
                    inner: Box::new(acc),
                },
            };
        }
        Ok(acc)
    }

    fn class_expr(&self, pair: Pair<'_>) -> Result<ClassExpr> {
        let inner = Children::of(pair).required(self)?;
        let span = attached(&inner);
        match inner.as_rule() {
            Rule::rm_class_expr => {
                let mut c = Children::of(inner);
                let rm_type = self.ident(&c.required(self)?);
                let variable = c.next_if(Rule::variable).map(|v| self.ident(&v));
                let predicate = match c.next() {
                    Some(p) => Some(self.predicate(p, 0)?),
                    None => None,
                };
                Ok(ClassExpr::Rm(RmClassExpr {
                    rm_type,
                    variable,
                    predicate,
                    span,
                }))
            }
            Rule::version_class_expr => {
                let mut c = Children::of(inner);
                let variable = c.next_if(Rule::variable).map(|v| self.ident(&v));
                let predicate = match c.next() {
                    Some(p) => Some(self.version_predicate(p)?),
                    None => None,
                };
                Ok(ClassExpr::Version(VersionClassExpr {
                    variable,
                    predicate,
                    span,
                }))
            }
            _ => Err(self.unexpected(&inner)),
        }
    }

    fn version_predicate(&self, pair: Pair<'_>) -> Result<VersionPredicate> {
        let span = attached(&pair);
        let inner = Children::of(pair).required(self)?;
        let kind = match inner.as_rule() {
            Rule::kw_latest_version => VersionPredicateKind::LatestVersion,
            Rule::kw_all_versions => VersionPredicateKind::AllVersions,
            Rule::standard_predicate => {
                let mut c = Children::of(inner);
                let path = self.object_path(c.required(self)?, 1)?;
                let op = self.comparison_op(&c.required(self)?)?;
                let operand = self.predicate_operand(c.required(self)?, 1)?;
                VersionPredicateKind::Standard(StandardPredicate { path, op, operand })
            }
            _ => return Err(self.unexpected(&inner)),
        };
        Ok(VersionPredicate { kind, span })
    }

    // ---------------------------------------------------------- predicates and paths

    /// A bracketed `predicate`; `depth` is that of the node carrying it.
    fn predicate(&self, pair: Pair<'_>, depth: usize) -> Result<Box<Predicate>> {
        let span = attached(&pair);
        self.check_depth(depth + 1, span.get())?;
        let mut predicate = self.predicate_or(Children::of(pair).required(self)?, depth + 1)?;
        predicate.span = span;
        Ok(predicate)
    }

    fn predicate_or(&self, pair: Pair<'_>, depth: usize) -> Result<Box<Predicate>> {
        let span = attached(&pair);
        let mut items = Vec::new();
        for and in Children::of(pair).items {
            let and_span = attached(&and);
            let mut terms = Vec::new();
            for term in Children::of(and).items {
                terms.push(*self.predicate_term(term, depth)?);
            }
            items.push(one_or(terms, and_span, PredicateKind::And));
        }
        Ok(Box::new(one_or(items, span, PredicateKind::Or)))
    }

    /// Dispatches one term of a predicate. The recursive paths through the
    /// builder are kept in small functions: debug-build frames grow with
    /// every temporary, and deep nesting multiplies them.
    fn predicate_term(&self, pair: Pair<'_>, depth: usize) -> Result<Box<Predicate>> {
        match pair.as_rule() {
            Rule::predicate_group => {
                self.check_depth(depth + 1, span_of(&pair))?;
                self.predicate_or(Children::of(pair).required(self)?, depth + 1)
            }
            Rule::path_predicate => self.path_predicate(pair, depth),
            Rule::node_predicate => self.node_predicate(pair),
            Rule::archetype_predicate => self.archetype_predicate(pair),
            _ => Err(self.unexpected(&pair)),
        }
    }

    fn path_predicate(&self, pair: Pair<'_>, depth: usize) -> Result<Box<Predicate>> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let path = self.object_path(c.required(self)?, depth)?;
        let next = c.required(self)?;
        let kind = if next.as_rule() == Rule::contained_regex {
            PredicateKind::Regex(RegexPredicate {
                path,
                regex: self.contained_regex(next)?,
            })
        } else {
            let op = self.comparison_op(&next)?;
            let operand = self.predicate_operand(c.required(self)?, depth)?;
            PredicateKind::Standard(StandardPredicate { path, op, operand })
        };
        Ok(Box::new(Predicate { kind, span }))
    }

    fn node_predicate(&self, pair: Pair<'_>) -> Result<Box<Predicate>> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let code = self.node_code(&c.required(self)?);
        let name = match c.next() {
            Some(n) => Some(self.node_name(n)?),
            None => None,
        };
        Ok(Box::new(Predicate {
            kind: PredicateKind::Node(NodePredicate { code, name }),
            span,
        }))
    }

    fn archetype_predicate(&self, pair: Pair<'_>) -> Result<Box<Predicate>> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let first = c.required(self)?;
        let archetype = match first.as_rule() {
            Rule::archetype_id => ArchetypeRef::Id(self.archetype_id(&first)),
            Rule::parameter => ArchetypeRef::Parameter(self.parameter(&first)),
            _ => return Err(self.unexpected(&first)),
        };
        let name = match c.next() {
            Some(n) => Some(self.node_name(n)?),
            None => None,
        };
        Ok(Box::new(Predicate {
            kind: PredicateKind::Archetype(ArchetypePredicate { archetype, name }),
            span,
        }))
    }

    fn node_name(&self, pair: Pair<'_>) -> Result<NodeName> {
        let inner = Children::of(pair).required(self)?;
        Ok(match inner.as_rule() {
            Rule::string => NodeName::String(self.string_literal(&inner)?),
            Rule::parameter => NodeName::Parameter(self.parameter(&inner)),
            Rule::term_code => NodeName::TermCode(Box::new(self.term_code(inner)?)),
            Rule::at_code | Rule::id_code => NodeName::Code(self.node_code(&inner)),
            _ => return Err(self.unexpected(&inner)),
        })
    }

    fn term_code(&self, pair: Pair<'_>) -> Result<TermCode> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let terminology = c.required(self)?.as_str().to_owned();
        let version = c.next_if(Rule::term_version).map(|v| v.as_str().to_owned());
        let code = c.required(self)?.as_str().to_owned();
        let text = c.next_if(Rule::term_text).map(|t| t.as_str().to_owned());
        Ok(TermCode {
            terminology,
            version,
            code,
            text,
            span,
        })
    }

    fn contained_regex(&self, pair: Pair<'_>) -> Result<ContainedRegex> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let pattern = c.required(self)?.as_str().to_owned();
        let default = match c.next() {
            Some(d) => Some(self.string_literal(&d)?),
            None => None,
        };
        Ok(ContainedRegex {
            pattern,
            default,
            span,
        })
    }

    fn predicate_operand(&self, pair: Pair<'_>, depth: usize) -> Result<PredicateOperand> {
        let inner = Children::of(pair).required(self)?;
        Ok(match inner.as_rule() {
            Rule::literal => PredicateOperand::Literal(self.literal(inner)?),
            Rule::parameter => PredicateOperand::Parameter(self.parameter(&inner)),
            Rule::archetype_id => PredicateOperand::Archetype(self.archetype_id(&inner)),
            Rule::at_code | Rule::id_code => PredicateOperand::Code(self.node_code(&inner)),
            Rule::object_path => PredicateOperand::Path(self.object_path(inner, depth)?),
            _ => return Err(self.unexpected(&inner)),
        })
    }

    fn identified_path(&self, pair: Pair<'_>, depth: usize) -> Result<IdentifiedPath> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let variable = self.ident(&c.required(self)?);
        let predicate = match c.next_if(Rule::predicate) {
            Some(p) => Some(self.predicate(p, depth)?),
            None => None,
        };
        let path = match c.next() {
            Some(p) => Some(self.object_path(p, depth)?),
            None => None,
        };
        Ok(IdentifiedPath {
            variable,
            predicate,
            path,
            span,
        })
    }

    fn object_path(&self, pair: Pair<'_>, depth: usize) -> Result<ObjectPath> {
        let span = attached(&pair);
        let mut steps = Vec::new();
        for part in Children::of(pair).items {
            let step_span = attached(&part);
            let mut c = Children::of(part);
            let attribute = self.ident(&c.required(self)?);
            let predicate = match c.next() {
                Some(p) => Some(self.predicate(p, depth)?),
                None => None,
            };
            steps.push(PathStep {
                attribute,
                predicate,
                span: step_span,
            });
        }
        Ok(ObjectPath { steps, span })
    }

    // ---------------------------------------------------------- WHERE

    fn where_or(&self, pair: Pair<'_>, depth: usize) -> Result<WhereExpr> {
        let span = attached(&pair);
        self.check_depth(depth, span.get())?;
        let mut items = Vec::new();
        for and in Children::of(pair).items {
            let and_span = attached(&and);
            let mut terms = Vec::new();
            for term in Children::of(and).items {
                terms.push(self.where_not(term, depth)?);
            }
            items.push(one_or(terms, and_span, WhereKind::And));
        }
        Ok(one_or(items, span, WhereKind::Or))
    }

    fn where_not(&self, pair: Pair<'_>, depth: usize) -> Result<WhereExpr> {
        let mut c = Children::of(pair);
        let mut nots = Vec::new();
        while let Some(not) = c.next_if(Rule::kw_not) {
            nots.push(span_of(&not).start);
        }
        let depth = depth + nots.len();
        let primary = c.required(self)?;
        self.check_depth(depth, span_of(&primary))?;
        let mut expr = match primary.as_rule() {
            Rule::where_group => self.where_or(Children::of(primary).required(self)?, depth + 1)?,
            Rule::exists_expr => self.exists(primary, depth)?,
            Rule::condition => self.condition(primary, depth)?,
            _ => return Err(self.unexpected(&primary)),
        };
        let end = expr.span().end;
        while let Some(start) = nots.pop() {
            expr = WhereExpr {
                kind: WhereKind::Not(Box::new(expr)),
                span: AttachedSpan(Span::new(start, end)),
            };
        }
        Ok(expr)
    }

    fn exists(&self, pair: Pair<'_>, depth: usize) -> Result<WhereExpr> {
        let span = attached(&pair);
        let path = self.identified_path(Children::of(pair).required(self)?, depth)?;
        Ok(WhereExpr {
            kind: WhereKind::Exists(path),
            span,
        })
    }

    fn condition(&self, pair: Pair<'_>, depth: usize) -> Result<WhereExpr> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let left = self.operand(Children::of(c.required(self)?).required(self)?, depth)?;
        let next = c.required(self)?;
        let kind = match next.as_rule() {
            Rule::comparison_op => {
                let op = self.comparison_op(&next)?;
                let right = self.operand(Children::of(c.required(self)?).required(self)?, depth)?;
                WhereKind::Comparison { left, op, right }
            }
            Rule::like_operand => WhereKind::Like {
                left,
                pattern: self.like_pattern(next)?,
            },
            Rule::matches_operand => WhereKind::Matches {
                left,
                operand: self.matches_operand(next, depth)?,
            },
            _ => return Err(self.unexpected(&next)),
        };
        Ok(WhereExpr { kind, span })
    }

    fn like_pattern(&self, pair: Pair<'_>) -> Result<LikePattern> {
        let inner = Children::of(pair).required(self)?;
        Ok(match inner.as_rule() {
            Rule::string => LikePattern::String(self.string_literal(&inner)?),
            Rule::parameter => LikePattern::Parameter(self.parameter(&inner)),
            _ => return Err(self.unexpected(&inner)),
        })
    }

    fn matches_operand(&self, pair: Pair<'_>, depth: usize) -> Result<MatchesOperand> {
        let inner = Children::of(pair).required(self)?;
        let span = attached(&inner);
        Ok(match inner.as_rule() {
            Rule::value_list => {
                let mut items = Vec::new();
                for item in Children::of(inner).items {
                    items.push(self.operand(Children::of(item).required(self)?, depth)?);
                }
                MatchesOperand::List(ValueList { items, span })
            }
            Rule::terminology_call => {
                MatchesOperand::Terminology(Box::new(self.terminology(inner)?))
            }
            Rule::uri_list => {
                let uri = Children::of(inner).required(self)?;
                MatchesOperand::Uri(Uri {
                    value: uri.as_str().to_owned(),
                    span: attached(&uri),
                })
            }
            // `MATCHES $codes` is the list `{$codes}`: the parameter's value is the list.
            Rule::parameter => MatchesOperand::List(ValueList {
                items: vec![Operand::Parameter(self.parameter(&inner))],
                span,
            }),
            _ => return Err(self.unexpected(&inner)),
        })
    }

    /// An operand: the single child of `left_operand`, `terminal` or `value_item`.
    fn operand(&self, pair: Pair<'_>, depth: usize) -> Result<Operand> {
        match pair.as_rule() {
            Rule::literal => self.literal(pair).map(Operand::Literal),
            Rule::parameter => Ok(Operand::Parameter(self.parameter(&pair))),
            Rule::identified_path => self.boxed_path(pair, depth).map(Operand::Path),
            Rule::function_call => self.boxed_function(pair, depth).map(Operand::Function),
            Rule::terminology_call => self.boxed_terminology(pair).map(Operand::Terminology),
            _ => Err(self.unexpected(&pair)),
        }
    }

    fn boxed_path(&self, pair: Pair<'_>, depth: usize) -> Result<Box<IdentifiedPath>> {
        self.identified_path(pair, depth).map(Box::new)
    }

    fn boxed_function(&self, pair: Pair<'_>, depth: usize) -> Result<Box<FunctionCall>> {
        self.function_call(pair, depth).map(Box::new)
    }

    fn boxed_terminology(&self, pair: Pair<'_>) -> Result<Box<TerminologyCall>> {
        self.terminology(pair).map(Box::new)
    }

    // ---------------------------------------------------------- functions

    fn function_call(&self, pair: Pair<'_>, depth: usize) -> Result<FunctionCall> {
        let span = attached(&pair);
        self.check_depth(depth + 1, span.get())?;
        let mut c = Children::of(pair);
        let name_text = c.required(self)?.as_str();
        let name = match BuiltinFunction::from_name(name_text) {
            Some(b) => FunctionName::Builtin(b),
            None => FunctionName::Other(name_text.to_owned()),
        };
        let mut args = Vec::new();
        while let Some(arg) = c.next() {
            args.push(self.operand(Children::of(arg).required(self)?, depth + 1)?);
        }
        Ok(FunctionCall { name, args, span })
    }

    fn terminology(&self, pair: Pair<'_>) -> Result<TerminologyCall> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let operation = self.string_literal(&c.required(self)?)?;
        let service_api = self.string_literal(&c.required(self)?)?;
        let params = self.string_literal(&c.required(self)?)?;
        Ok(TerminologyCall {
            operation,
            service_api,
            params,
            span,
        })
    }

    fn aggregate(&self, pair: Pair<'_>) -> Result<Aggregate> {
        let span = attached(&pair);
        let mut c = Children::of(pair);
        let name = c.required(self)?;
        let function = match name.as_str().to_ascii_lowercase().as_str() {
            "count" => AggregateFunction::Count,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "sum" => AggregateFunction::Sum,
            "avg" => AggregateFunction::Avg,
            _ => return Err(self.unexpected(&name)),
        };
        let distinct = c.next_if(Rule::kw_distinct).is_some();
        let arg = c.required(self)?;
        let argument = match arg.as_rule() {
            Rule::star => AggregateArg::Star,
            _ => AggregateArg::Path(self.identified_path(arg, 0)?),
        };
        Ok(Aggregate {
            function,
            distinct,
            argument,
            span,
        })
    }

    // ---------------------------------------------------------- leaves

    fn literal(&self, pair: Pair<'_>) -> Result<Literal> {
        let inner = Children::of(pair).required(self)?;
        let span = attached(&inner);
        let text = inner.as_str();
        let value = match inner.as_rule() {
            Rule::string => LiteralValue::String(self.string_literal(&inner)?.value),
            Rule::number => self.number(text, span.get())?,
            Rule::boolean => LiteralValue::Boolean(text.eq_ignore_ascii_case("true")),
            Rule::null => LiteralValue::Null,
            _ => return Err(self.unexpected(&inner)),
        };
        Ok(Literal { value, span })
    }

    fn number(&self, text: &str, span: Span) -> Result<LiteralValue> {
        let out_of_range = || self.error(ParseErrorKind::NumberOutOfRange(text.to_owned()), span);
        if text.contains(['.', 'e', 'E']) {
            match text.parse::<f64>() {
                Ok(r) if r.is_finite() => Ok(LiteralValue::Real(r)),
                _ => Err(out_of_range()),
            }
        } else {
            text.parse::<i64>()
                .map(LiteralValue::Integer)
                .map_err(|_| out_of_range())
        }
    }

    fn unsigned(&self, pair: Pair<'_>) -> Result<u64> {
        pair.as_str().parse().map_err(|_| {
            self.error(
                ParseErrorKind::NumberOutOfRange(pair.as_str().to_owned()),
                span_of(&pair),
            )
        })
    }

    fn string_literal(&self, pair: &Pair<'_>) -> Result<StringLiteral> {
        let span = span_of(pair);
        let value = unescape(pair.as_str()).map_err(|bad| {
            let start = span.start + bad.offset;
            let esc = Span::new(start, start + bad.len);
            let shown = esc.slice(self.text).unwrap_or("\\").to_owned();
            self.error(ParseErrorKind::InvalidEscape(shown), esc)
        })?;
        Ok(StringLiteral {
            value,
            span: AttachedSpan(span),
        })
    }

    fn comparison_op(&self, pair: &Pair<'_>) -> Result<ComparisonOp> {
        Ok(match pair.as_str() {
            "=" => ComparisonOp::Eq,
            "!=" => ComparisonOp::Ne,
            ">" => ComparisonOp::Gt,
            ">=" => ComparisonOp::Ge,
            "<" => ComparisonOp::Lt,
            "<=" => ComparisonOp::Le,
            _ => return Err(self.unexpected(pair)),
        })
    }

    fn ident(&self, pair: &Pair<'_>) -> Ident {
        Ident {
            name: pair.as_str().to_owned(),
            span: attached(pair),
        }
    }

    fn parameter(&self, pair: &Pair<'_>) -> Parameter {
        Parameter {
            name: pair.as_str().trim_start_matches('$').to_owned(),
            span: attached(pair),
        }
    }

    fn node_code(&self, pair: &Pair<'_>) -> NodeCode {
        NodeCode {
            value: pair.as_str().to_owned(),
            span: attached(pair),
        }
    }

    fn archetype_id(&self, pair: &Pair<'_>) -> ArchetypeId {
        ArchetypeId {
            value: pair.as_str().to_owned(),
            span: attached(pair),
        }
    }
}

/// Node types that are built from "one operand, or an n-ary combination".
trait Combinable: Sized {
    type Kind;
    fn from_kind(kind: Self::Kind, span: AttachedSpan) -> Self;
}

impl Combinable for Containment {
    type Kind = ContainmentKind;
    fn from_kind(kind: ContainmentKind, span: AttachedSpan) -> Self {
        Containment { kind, span }
    }
}

impl Combinable for Predicate {
    type Kind = PredicateKind;
    fn from_kind(kind: PredicateKind, span: AttachedSpan) -> Self {
        Predicate { kind, span }
    }
}

impl Combinable for WhereExpr {
    type Kind = WhereKind;
    fn from_kind(kind: WhereKind, span: AttachedSpan) -> Self {
        WhereExpr { kind, span }
    }
}

/// The single item itself, or `combine(items)` spanning `span`.
fn one_or<T: Combinable>(
    mut items: Vec<T>,
    span: AttachedSpan,
    combine: fn(Vec<T>) -> T::Kind,
) -> T {
    if items.len() == 1 {
        if let Some(item) = items.pop() {
            return item;
        }
    }
    T::from_kind(combine(items), span)
}

//! The AQL 1.1 built-in functions as SQL over `jsonb` values: every argument and result is a
//! `jsonb` expression, and an argument of the wrong JSON type makes the result NULL (as a
//! missing value does), never an error. Positions are 1-based, as in AQL and SQL.

use cdr_aql::ast::BuiltinFunction;

/// A JSON string as text; NULL otherwise.
fn text(x: &str) -> String {
    format!("cdr_str({x})")
}

/// A JSON number as numeric; NULL otherwise.
fn num(x: &str) -> String {
    format!("cdr_num({x})")
}

/// Any scalar as the text CONCAT joins: strings as they are, numbers and booleans as JSON
/// writes them, anything else NULL (skipped).
fn concat_part(x: &str) -> String {
    format!(
        "CASE jsonb_typeof({x}) WHEN 'string' THEN {x} #>> '{{}}' \
         WHEN 'number' THEN {x}::text WHEN 'boolean' THEN {x}::text END"
    )
}

/// An integer argument (a position or a count of places): NULL unless a whole number.
fn int(x: &str) -> String {
    format!(
        "(CASE WHEN {n} = trunc({n}) AND abs({n}) < 2147483648 THEN {n}::int4 END)",
        n = num(x)
    )
}

/// The SQL (a `jsonb` expression) of built-in `f` applied to `args` (each a `jsonb`
/// expression; their number was checked when the query was bound).
pub(crate) fn builtin_sql(f: BuiltinFunction, args: &[String]) -> String {
    use BuiltinFunction::*;
    let a = |i: usize| args[i].as_str();
    match f {
        Length => format!("to_jsonb(length({}))", text(a(0))),
        Contains => format!("to_jsonb(strpos({}, {}) > 0)", text(a(0)), text(a(1))),
        Position => format!("to_jsonb(strpos({}, {}))", text(a(1)), text(a(0))),
        Substring => match args.get(2) {
            Some(len) => format!(
                "to_jsonb(substr({}, {}, greatest({}, 0)))",
                text(a(0)),
                int(a(1)),
                int(len)
            ),
            None => format!("to_jsonb(substr({}, {}))", text(a(0)), int(a(1))),
        },
        Concat => {
            let parts: Vec<String> = args.iter().map(|x| concat_part(x)).collect();
            format!("to_jsonb(concat({}))", parts.join(", "))
        }
        ConcatWs => {
            let parts: Vec<String> = args[1..].iter().map(|x| concat_part(x)).collect();
            format!("to_jsonb(concat_ws({}, {}))", text(a(0)), parts.join(", "))
        }
        Abs => format!("to_jsonb(abs({}))", num(a(0))),
        // A zero divisor gives NULL (a missing value), not an error.
        Mod => format!("to_jsonb(mod({}, nullif({}, 0)))", num(a(0)), num(a(1))),
        Ceil => format!("to_jsonb(ceil({}))", num(a(0))),
        Floor => format!("to_jsonb(floor({}))", num(a(0))),
        Round => match args.get(1) {
            Some(d) => format!("to_jsonb(round({}, {}))", num(a(0)), int(d)),
            None => format!("to_jsonb(round({}))", num(a(0))),
        },
        CurrentDate => "to_jsonb(to_char(now(), 'YYYY-MM-DD'))".to_owned(),
        CurrentTime => "to_jsonb(to_char(now(), 'HH24:MI:SS'))".to_owned(),
        CurrentDateTime | Now => {
            "to_jsonb(to_char(now(), 'YYYY-MM-DD\"T\"HH24:MI:SS.MSTZH:TZM'))".to_owned()
        }
        CurrentTimezone => "to_jsonb(to_char(now(), 'TZH:TZM'))".to_owned(),
    }
}

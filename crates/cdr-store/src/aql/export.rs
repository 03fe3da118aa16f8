//! Query results as analysts take them away: CSV (RFC 4180, a header row of the column names)
//! and NDJSON (one JSON object per row, keyed by column name), written a batch of rows at a
//! time so that an export of any size streams.
//!
//! Cells are written as in a RESULT_SET ([`super::cells`]): a string as its text in CSV (its
//! JSON form in NDJSON), a number or boolean as written, a missing value as an empty CSV field
//! (`null` in NDJSON), a whole RM object or a list as its compact JSON.

use serde_json::value::RawValue;

use super::ResultColumn;

/// The formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `text/csv`.
    Csv,
    /// `application/x-ndjson`.
    Ndjson,
}

impl ExportFormat {
    /// The media type of the format.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }
}

/// Writes the rows of one query, batch by batch.
#[derive(Debug)]
pub struct ExportWriter {
    format: ExportFormat,
    /// The column names.
    names: Vec<String>,
    /// NDJSON: each column's name as a JSON string followed by `:`.
    keys: Vec<String>,
}

impl ExportWriter {
    pub fn new(format: ExportFormat, columns: &[ResultColumn]) -> ExportWriter {
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let keys = names
            .iter()
            .map(|n| format!("{}:", serde_json::Value::String(n.clone())))
            .collect();
        ExportWriter {
            format,
            names,
            keys,
        }
    }

    /// What comes before the first row: the CSV header (nothing for NDJSON).
    pub fn header(&self) -> Vec<u8> {
        match self.format {
            ExportFormat::Csv => {
                let mut w = csv_writer(64 * self.names.len());
                // Writing to a Vec cannot fail.
                let _ = w.write_record(&self.names);
                w.into_inner().unwrap_or_default()
            }
            ExportFormat::Ndjson => Vec::new(),
        }
    }

    /// The rows as bytes.
    pub fn rows(&self, rows: &[Vec<Box<RawValue>>]) -> Vec<u8> {
        match self.format {
            ExportFormat::Csv => {
                let mut w = csv_writer(rows.len() * 64);
                let mut fields: Vec<String> = Vec::new();
                for row in rows {
                    fields.clear();
                    fields.extend(row.iter().map(|c| csv_field(c.get())));
                    let _ = w.write_record(&fields);
                }
                w.into_inner().unwrap_or_default()
            }
            ExportFormat::Ndjson => {
                let mut s = String::with_capacity(rows.len() * 96);
                for row in rows {
                    s.push('{');
                    for (i, (key, cell)) in self.keys.iter().zip(row).enumerate() {
                        if i > 0 {
                            s.push(',');
                        }
                        s.push_str(key);
                        super::cells::write_cell(&mut s, cell.get());
                    }
                    s.push_str("}\n");
                }
                s.into_bytes()
            }
        }
    }
}

fn csv_writer(capacity: usize) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(capacity))
}

/// A cell as a CSV field.
fn csv_field(text: &str) -> String {
    let t = text.trim_start();
    match t.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(t).unwrap_or_else(|_| t.to_owned()),
        Some(b'{' | b'[') => {
            let mut s = String::with_capacity(t.len());
            super::cells::write_cell(&mut s, t);
            s
        }
        _ if t == "null" => String::new(),
        _ => t.trim_end().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<ResultColumn> {
        names
            .iter()
            .map(|n| ResultColumn {
                name: (*n).into(),
                path: String::new(),
                is_path: false,
            })
            .collect()
    }

    fn row(cells: &[&str]) -> Vec<Box<RawValue>> {
        cells
            .iter()
            .map(|c| RawValue::from_string((*c).to_owned()).unwrap())
            .collect()
    }

    #[test]
    fn csv_quotes_what_it_must_and_writes_objects_as_json() {
        let cols = columns(&["ehr id", "text", "n", "missing", "obj"]);
        let w = ExportWriter::new(ExportFormat::Csv, &cols);
        let mut out = w.header();
        out.extend(w.rows(&[row(&[
            "\"7d1c\"",
            "\"a, \\\"b\\\"\\nc\"",
            "119.5",
            "null",
            "{\"_type\":\"DV_TEXT\",\"value\":\"x\"}",
        ])]));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ehr id,text,n,missing,obj\r\n7d1c,\"a, \"\"b\"\"\nc\",119.5,,\"{\"\"_type\"\":\"\"DV_TEXT\"\",\"\"value\"\":\"\"x\"\"}\"\r\n"
        );
    }

    #[test]
    fn ndjson_is_one_object_per_row() {
        let cols = columns(&["a", "b\"q"]);
        let w = ExportWriter::new(ExportFormat::Ndjson, &cols);
        assert!(w.header().is_empty());
        let out = w.rows(&[row(&["1", "\"x\""]), row(&["null", "[1,2]"])]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":1,\"b\\\"q\":\"x\"}\n{\"a\":null,\"b\\\"q\":[1,2]}\n"
        );
    }
}

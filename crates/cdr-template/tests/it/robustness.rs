//! Fuzz-ish robustness: truncated, mutated and synthetic hostile inputs must yield `Ok` or
//! `Err`, never a panic or a stack overflow.

use cdr_template::{parse_opt, parse_opt_with_limits, OptError, ParseLimits};

use crate::support::corpus_opts;
use cdr_template::fixtures::opt;

/// A tiny deterministic PRNG (xorshift64*), so failures are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Fewer iterations for big files so the (debug-mode) test stays quick.
fn iterations(len: usize) -> usize {
    (3_000_000 / len.max(1)).clamp(6, 120)
}

/// The inputs used: the corpus when present, else a fixture.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut v = corpus_opts();
    v.push(("fixture".into(), opt("").into_bytes()));
    v
}

#[test]
fn truncated_documents_are_errors() {
    let mut rng = Rng(0x5EED_0001);
    for (slug, bytes) in inputs() {
        let end = bytes
            .windows(11)
            .rposition(|w| w == b"</template>")
            .expect("closing tag");
        let n = iterations(bytes.len());
        for i in 0..n {
            // Evenly spread cuts plus random ones.
            let cut = if i % 2 == 0 {
                end * i / n
            } else {
                rng.below(end)
            };
            let result = parse_opt(&bytes[..cut]);
            assert!(result.is_err(), "{slug}: truncation at {cut} parsed");
        }
    }
}

#[test]
fn mutated_documents_never_panic() {
    const NASTY: &[u8] = b"<>&;\"'/=!?[]-: \n\x00\xff\xc3";
    let mut rng = Rng(0x5EED_0002);
    let (mut ok, mut failed) = (0usize, 0usize);
    for (slug, bytes) in inputs() {
        for _ in 0..iterations(bytes.len()) {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                match rng.below(5) {
                    0 => m[at] = NASTY[rng.below(NASTY.len())],
                    1 => m[at] = rng.next() as u8,
                    2 => {
                        let len = rng.below(64).min(m.len() - at);
                        m.drain(at..at + len);
                    }
                    3 => m.insert(at, NASTY[rng.below(NASTY.len())]),
                    _ => {
                        // Duplicate a chunk elsewhere (unbalances or repeats elements).
                        let len = rng.below(256).min(m.len() - at);
                        let chunk: Vec<u8> = m[at..at + len].to_vec();
                        let to = rng.below(m.len());
                        m.splice(to..to, chunk);
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            match parse_opt(&m) {
                Ok(_) => ok += 1,
                Err(
                    OptError::Xml { line, column, .. } | OptError::Invalid { line, column, .. },
                ) => {
                    assert!(line >= 1 && column >= 1, "{slug}: position {line}:{column}");
                    failed += 1;
                }
                Err(OptError::Limit(_)) => failed += 1,
            }
        }
    }
    eprintln!("mutations: {ok} parsed, {failed} rejected");
    assert!(failed > 0);
}

#[test]
fn hostile_synthetic_inputs() {
    let deep_open = "<template>".to_owned() + &"<a>".repeat(100_000);
    let deep_definition = {
        let mut s =
            String::from("<template><template_id><value>x</value></template_id><definition>");
        for _ in 0..100_000 {
            s.push_str("<attributes><children>");
        }
        s
    };
    let many_siblings =
        opt(&"<attributes><rm_attribute_name>a</rm_attribute_name></attributes>".repeat(20_000));
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"<".to_vec(),
        b"<template".to_vec(),
        b"<template/>".to_vec(),
        b"<template></template>".to_vec(),
        b"<!DOCTYPE template [<!ENTITY e \"boom\">]><template>&e;</template>".to_vec(),
        b"<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://example.invalid/x.dtd\"><template/>".to_vec(),
        b"<template><definition xsi:type=\"C_ARCHETYPE_ROOT\"/></template>".to_vec(),
        b"<template><template_id><value>x</value></template_id><definition/></template>".to_vec(),
        b"<template><template_id><value>x</value></template_id><definition><children/></definition></template>".to_vec(),
        deep_open.into_bytes(),
        deep_definition.into_bytes(),
        many_siblings.into_bytes(),
        vec![0u8; 10_000],
        (0..=255u8).cycle().take(50_000).collect(),
    ];
    for (i, case) in cases.iter().enumerate() {
        let limits = ParseLimits {
            max_depth: usize::MAX,
            max_bytes: usize::MAX,
        };
        let _ = parse_opt_with_limits(case, limits);
        let result = parse_opt(case);
        if i == 12 {
            let t = result.expect("many siblings parse");
            assert_eq!(t.definition.attributes().len(), 20_000);
        } else {
            assert!(result.is_err(), "case {i} should be rejected");
        }
    }
}

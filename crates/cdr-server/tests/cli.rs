//! Integration tests of the `cdr` binary's `validate` command: exit codes (0 valid, 1 invalid
//! or unreadable composition, 2 usage or template error), human and `--json` output; of
//! `cdr template webtemplate`; of `cdr archetype check` (ADL fixtures of cdr-adl); and of
//! `cdr template build` (the compiler fixtures of cdr-template).
//!
//! Fixtures come from `crates/cdr-validation/tests/fixtures` (a hand-written OPT and a valid
//! composition for it) and are copied, or changed, into a fresh temporary directory per test.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cdr-validation/tests/fixtures")
}

fn fixture_opt() -> Vec<u8> {
    std::fs::read(fixtures().join("cdr_test_vitals.v1.opt")).expect("fixture OPT")
}

fn fixture_composition() -> Value {
    let bytes = std::fs::read(fixtures().join("cdr_test_vitals.v1.json")).expect("fixture JSON");
    serde_json::from_slice(&bytes).unwrap()
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cdr-cli-test-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// The fixture OPT and its valid composition, written into the directory.
    fn with_fixtures(name: &str) -> (Self, String, String) {
        let dir = TempDir::new(name);
        let opt = dir.write("template.opt", fixture_opt());
        let valid = dir.write(
            "valid.json",
            serde_json::to_vec_pretty(&fixture_composition()).unwrap(),
        );
        (dir, opt, valid)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cdr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(args)
        .output()
        .expect("the cdr binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The composition with its systolic pressure in kg: one `unit_not_allowed` issue.
fn invalid_composition() -> Vec<u8> {
    let mut doc = fixture_composition();
    doc["content"][0]["data"]["events"][0]["data"]["items"][0]["value"]["units"] = json!("kg");
    serde_json::to_vec(&doc).unwrap()
}

/// The `--json` output: one object per line.
fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[test]
fn valid_composition_exits_0() {
    let (_dir, opt, valid) = TempDir::with_fixtures("valid");
    let o = cdr(&["validate", "--template", &opt, &valid]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{valid}: valid")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn template_option_forms() {
    let (_dir, opt, valid) = TempDir::with_fixtures("forms");
    for args in [
        vec!["validate", "-t", &opt, &valid],
        vec!["validate", &valid, "--template", &opt],
    ] {
        let o = cdr(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
    let eq = format!("--template={opt}");
    let o = cdr(&["validate", &eq, &valid]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn valid_xml_composition_exits_0() {
    let (dir, opt, _) = TempDir::with_fixtures("xml");
    let c: cdr_rm::Composition =
        cdr_rm::from_json(&serde_json::to_vec(&fixture_composition()).unwrap()).unwrap();
    let xml = dir.write("valid.xml", cdr_rm::to_xml(&c, "composition"));
    let o = cdr(&["validate", "--template", &opt, &xml]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn invalid_composition_exits_1_and_names_the_issue() {
    let (dir, opt, _) = TempDir::with_fixtures("invalid");
    let bad = dir.write("bad.json", invalid_composition());
    let o = cdr(&["validate", "--template", &opt, &bad]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("{bad}: INVALID (1 issues)")), "{out}");
    assert!(
        out.contains("/content[0]/data/events[0]/data/items[0]/value/units [unit_not_allowed]"),
        "{out}"
    );
}

#[test]
fn non_json_file_exits_1() {
    let (dir, opt, _) = TempDir::with_fixtures("nonjson");
    let junk = dir.write("junk.json", "this is not JSON\n");
    let o = cdr(&["validate", "--template", &opt, &junk]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("not a readable composition"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn json_that_is_not_a_composition_exits_1() {
    let (dir, opt, _) = TempDir::with_fixtures("notcomp");
    let other = dir.write("other.json", r#"{"_type": "DV_TEXT", "value": "x"}"#);
    let o = cdr(&["validate", "--template", &opt, &other]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn missing_composition_file_exits_1() {
    let (dir, opt, _) = TempDir::with_fixtures("missingfile");
    let o = cdr(&["validate", "--template", &opt, &dir.path("absent.json")]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("cannot read file"), "{}", stdout(&o));
}

#[test]
fn missing_template_option_exits_2() {
    let (_dir, _, valid) = TempDir::with_fixtures("notemplate");
    let o = cdr(&["validate", &valid]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--template"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let o = cdr(&["validate", &valid, "--template"]);
    assert_eq!(code(&o), 2, "--template without a value");
}

#[test]
fn unreadable_template_exits_2() {
    let (dir, _, valid) = TempDir::with_fixtures("unreadable");
    let o = cdr(&["validate", "--template", &dir.path("absent.opt"), &valid]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read template"),
        "{}",
        stderr(&o)
    );
    // A directory is not a readable template either.
    let o = cdr(&["validate", "--template", &dir.path(""), &valid]);
    assert_eq!(code(&o), 2);
}

#[test]
fn unparseable_template_exits_2() {
    let (dir, _, valid) = TempDir::with_fixtures("badopt");
    for (name, text) in [
        ("garbage.opt", "not xml at all <<<"),
        ("other.opt", "<?xml version=\"1.0\"?><archetype/>"),
        ("empty.opt", ""),
        (
            "nodefinition.opt",
            "<template><template_id><value>x</value></template_id></template>",
        ),
    ] {
        let opt = dir.write(name, text);
        let o = cdr(&["validate", "--template", &opt, &valid]);
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(&opt), "{name}: {}", stderr(&o));
    }
    // A truncated copy of a good OPT.
    let whole = fixture_opt();
    let opt = dir.write("truncated.opt", &whole[..whole.len() / 2]);
    let o = cdr(&["validate", "--template", &opt, &valid]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn template_errors_win_over_composition_errors() {
    let (dir, _, _) = TempDir::with_fixtures("both");
    let opt = dir.write("bad.opt", "<nope/>");
    let o = cdr(&["validate", "--template", &opt, &dir.path("absent.json")]);
    assert_eq!(code(&o), 2);
}

#[test]
fn usage_errors_exit_2() {
    let (_dir, opt, valid) = TempDir::with_fixtures("usage");
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["validate"],
        vec!["validate", "--template", &opt],
        vec!["validate", "--template", &opt, "--verbose", &valid],
    ] {
        let o = cdr(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
    let o = cdr(&["help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("validate"), "{}", stdout(&o));
    let o = cdr(&["help", "validate"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("cdr validate [OPTIONS] --template <file.opt>"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn json_output_is_one_object_per_file() {
    let (dir, opt, valid) = TempDir::with_fixtures("json");
    let bad = dir.write("bad.json", invalid_composition());
    let junk = dir.write("junk.json", "{ nope");
    let absent = dir.path("absent.json");
    let o = cdr(&[
        "validate",
        "--template",
        &opt,
        "--json",
        &valid,
        &bad,
        &junk,
        &absent,
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 4, "{}", stdout(&o));

    assert_eq!(lines[0]["file"], valid.as_str());
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["issues"], json!([]));
    assert!(lines[0].get("error").is_none());

    assert_eq!(lines[1]["file"], bad.as_str());
    assert_eq!(lines[1]["valid"], false);
    let issues = lines[1]["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["constraint"], "unit_not_allowed");
    assert_eq!(
        issues[0]["path"],
        "/content[0]/data/events[0]/data/items[0]/value/units"
    );
    assert_eq!(issues[0]["expected"], "mm[Hg]");
    assert_eq!(issues[0]["actual"], "kg");
    assert!(issues[0]["archetype_path"]
        .as_str()
        .unwrap()
        .ends_with("/items[at0004]/value"));
    assert!(!issues[0]["message"].as_str().unwrap().is_empty());

    for (line, file) in [(&lines[2], &junk), (&lines[3], &absent)] {
        assert_eq!(line["file"], file.as_str());
        assert_eq!(line["valid"], false);
        assert_eq!(line["issues"], json!([]));
        assert!(!line["error"].as_str().unwrap().is_empty(), "{line}");
    }
}

#[test]
fn multiple_files_exit_1_if_any_is_invalid() {
    let (dir, opt, valid) = TempDir::with_fixtures("multi");
    let valid2 = dir.write(
        "valid2.json",
        serde_json::to_vec(&fixture_composition()).unwrap(),
    );
    let bad = dir.write("bad.json", invalid_composition());

    let o = cdr(&["validate", "--template", &opt, &valid, &valid2]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    for files in [[&valid, &bad], [&bad, &valid]] {
        let o = cdr(&["validate", "--template", &opt, files[0], files[1]]);
        assert_eq!(code(&o), 1, "{files:?}: {}", stdout(&o));
        // Every file is reported, not only up to the first invalid one.
        let out = stdout(&o);
        assert!(out.contains(&format!("{valid}: valid")), "{out}");
        assert!(out.contains(&format!("{bad}: INVALID")), "{out}");
    }
}

#[test]
fn corpus_blood_pressure_composition_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/ehrbase-blood-pressure-simple.de.v0");
    let opt = root.join("template.opt");
    let composition = root.join("compositions/it__ehrbase_blood_pressure_simple.de.v0.json");
    if !opt.exists() || !composition.exists() {
        eprintln!(
            "corpus absent: {} not found; corpus smoke test skipped",
            root.display()
        );
        return;
    }
    let o = cdr(&[
        "validate",
        "--template",
        opt.to_str().unwrap(),
        "--json",
        composition.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["valid"], true);
}

#[test]
fn template_webtemplate_prints_the_web_template() {
    let (dir, opt, _) = TempDir::with_fixtures("webtemplate");
    let o = cdr(&["template", "webtemplate", &opt]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let wt: Value = serde_json::from_str(&stdout(&o)).expect("the output is JSON");
    assert_eq!(wt["templateId"], "cdr_test_vitals.v1");
    assert_eq!(wt["version"], "2.3");
    assert_eq!(wt["tree"]["rmType"], "COMPOSITION");
    let ids: Vec<&str> = wt["tree"]["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"language") && ids.contains(&"composer"),
        "{ids:?}"
    );
    let compact = cdr(&["template", "webtemplate", "--compact", &opt]);
    assert_eq!(code(&compact), 0);
    assert_eq!(stdout(&compact).lines().count(), 1);

    // Usage errors exit 2, an OPT that does not parse exits 1.
    assert_eq!(code(&cdr(&["template"])), 2);
    assert_eq!(code(&cdr(&["template", "webtemplate"])), 2);
    assert_eq!(
        code(&cdr(&["template", "webtemplate", &dir.path("absent.opt")])),
        2
    );
    let junk = dir.write("junk.opt", "<not-a-template/>");
    let o = cdr(&["template", "webtemplate", &junk]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not an OPT"), "{}", stderr(&o));
}

#[test]
fn template_flat_conversions_both_ways() {
    let (dir, opt, valid) = TempDir::with_fixtures("flat");
    // The fixture fills a slot the template leaves unfilled: that CLUSTER goes whole (|raw).
    let o = cdr(&["template", "canonical-to-flat", &opt, &valid]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("\"encounter/test_vitals/any_event:0/device:0|raw\""),
        "{}",
        stdout(&o)
    );
    // A name of its own on a level FLAT rebuilds from the template has no FLAT path.
    let mut odd = fixture_composition();
    odd["content"][0]["data"]["events"][0]["data"]["name"]["value"] = "Another tree".into();
    let odd = dir.write("odd.json", serde_json::to_vec(&odd).unwrap());
    let o = cdr(&["template", "canonical-to-flat", &opt, &odd]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("cannot be written as FLAT: no FLAT path for data/name"),
        "{}",
        stderr(&o)
    );
    let mut doc = fixture_composition();
    let items = doc["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array_mut()
        .expect("items");
    items.retain(|i| i["archetype_node_id"] != "openEHR-EHR-CLUSTER.device.v1");
    let valid = dir.write("no_slot.json", serde_json::to_vec(&doc).unwrap());
    let o = cdr(&["template", "canonical-to-flat", &opt, &valid]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let flat: Value = serde_json::from_str(&stdout(&o)).expect("FLAT is JSON");
    let keys: Vec<&String> = flat.as_object().expect("an object").keys().collect();
    assert!(keys.iter().all(|k| !k.contains("ctx/")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with("|magnitude")), "{keys:?}");
    let flat_file = dir.write("flat.json", stdout(&o));
    let o = cdr(&[
        "template",
        "flat-to-canonical",
        "--compact",
        &opt,
        &flat_file,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let back: Value = serde_json::from_str(&stdout(&o)).expect("canonical JSON");
    assert_eq!(back["_type"], "COMPOSITION");
    assert_eq!(
        back["archetype_details"]["template_id"]["value"],
        "cdr_test_vitals.v1"
    );
    // The converted composition is valid.
    let again = dir.write("again.json", stdout(&o));
    assert_eq!(code(&cdr(&["validate", "--template", &opt, &again])), 0);

    // An unknown key is named.
    let mut bad = flat.clone();
    let root = keys[0].split('/').next().unwrap_or_default().to_owned();
    bad[format!("{root}/no_such_node|magnitude")] = json!(1);
    let bad_file = dir.write("bad.json", serde_json::to_vec(&bad).unwrap());
    let o = cdr(&["template", "flat-to-canonical", &opt, &bad_file]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("no_such_node|magnitude: unknown path"),
        "{}",
        stderr(&o)
    );
    assert_eq!(code(&cdr(&["template", "flat-to-canonical", &opt])), 2);
}

/// The fixture composition without its slot CLUSTER (which has no FLAT path), as a file.
fn formable(dir: &TempDir) -> String {
    let mut doc = fixture_composition();
    let items = doc["content"][0]["data"]["events"][0]["data"]["items"]
        .as_array_mut()
        .expect("items");
    items.retain(|i| i["archetype_node_id"] != "openEHR-EHR-CLUSTER.device.v1");
    dir.write("formable.json", serde_json::to_vec(&doc).unwrap())
}

/// `cdr convert` to a file; panics with stderr unless it exits 0.
fn convert_to(dir: &TempDir, opt: &str, file: &str, to: &str, name: &str) -> String {
    let o = cdr(&["convert", "--template", opt, "--to", to, file]);
    assert_eq!(code(&o), 0, "to {to}: {}", stderr(&o));
    dir.write(name, stdout(&o))
}

#[test]
fn validate_reads_flat_and_structured() {
    let (dir, opt, _) = TempDir::with_fixtures("validate-forms");
    let canonical = formable(&dir);
    let flat = convert_to(&dir, &opt, &canonical, "flat", "c.flat.json");
    let structured = convert_to(&dir, &opt, &canonical, "structured", "c.structured.json");
    for (format, file) in [
        ("flat", &flat),
        ("structured", &structured),
        ("FLAT", &flat),
    ] {
        let o = cdr(&["validate", "--template", &opt, "--format", format, file]);
        assert_eq!(code(&o), 0, "{format}: {}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains(&format!("{file}: valid")),
            "{}",
            stdout(&o)
        );
    }
    let eq = cdr(&[
        "validate",
        "--template",
        &opt,
        "--format=structured",
        &structured,
    ]);
    assert_eq!(code(&eq), 0, "{}", stdout(&eq));

    // Converted but invalid: the issues, exit 1.
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&flat).unwrap()).unwrap();
    let unit_key = value
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.ends_with("|unit"))
        .expect("a unit key")
        .clone();
    value[&unit_key] = json!("kg");
    let root = unit_key.split('/').next().unwrap().to_owned();
    let bad_unit = dir.write("bad_unit.flat.json", serde_json::to_vec(&value).unwrap());
    value[format!("{root}/no_such_node|magnitude")] = json!(1);
    let unknown = dir.write("unknown.flat.json", serde_json::to_vec(&value).unwrap());
    let o = cdr(&[
        "validate",
        "--template",
        &opt,
        "--format",
        "flat",
        "--json",
        &bad_unit,
        &unknown,
        &flat,
    ]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines[0]["valid"], false);
    assert_eq!(lines[0]["issues"][0]["constraint"], "unit_not_allowed");
    // The issue says where it is in the FLAT file too.
    assert_eq!(lines[0]["issues"][0]["flat_path"], unit_key.as_str());
    assert!(lines[0]["issues"][0]["web_template_id"].is_string());
    let o = cdr(&["validate", "-t", &opt, "-f", "flat", &bad_unit]);
    assert!(
        stdout(&o).contains(&format!("(FLAT {unit_key}) [unit_not_allowed]")),
        "{}",
        stdout(&o)
    );
    // A key that names nothing and an invalid unit: both issues at once, each at its key.
    assert_eq!(lines[1]["valid"], false);
    let issues = lines[1]["issues"].as_array().expect("issues");
    let place = |i: &Value| (i["flat_path"].clone(), i["constraint"].clone());
    let places: Vec<_> = issues.iter().map(place).collect();
    let unknown_key = format!("{root}/no_such_node|magnitude");
    assert_eq!(
        places,
        [
            (json!(unknown_key), json!("unknown_path")),
            (json!(unit_key), json!("unit_not_allowed"))
        ],
        "{issues:?}"
    );
    assert!(issues.iter().all(|i| i["web_template_id"].is_string()));
    assert!(lines[1].get("error").is_none());
    let o = cdr(&["validate", "-t", &opt, "-f", "flat", &unknown]);
    let text = stdout(&o);
    assert!(text.contains("INVALID (2 issues)"), "{text}");
    assert!(
        text.contains(&format!("{unknown_key}: unknown path")),
        "{text}"
    );
    assert_eq!(lines[2]["valid"], true);

    // A canonical file read as STRUCTURED does not convert: exit 1, the root key named.
    let o = cdr(&[
        "validate",
        "--template",
        &opt,
        "--format",
        "structured",
        &canonical,
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("unknown path"), "{}", stdout(&o));

    // Usage: an unknown format, or none after --format.
    for args in [
        vec!["validate", "--template", &opt, "--format", "yaml", &flat],
        vec!["validate", "--template", &opt, &flat, "--format"],
    ] {
        let o = cdr(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(!stderr(&o).is_empty());
    }
}

#[test]
fn convert_between_all_formats() {
    let (dir, opt, _) = TempDir::with_fixtures("convert");
    let canonical = formable(&dir);
    let json_out = cdr(&["convert", "--to", "json", &canonical]);
    assert_eq!(code(&json_out), 0, "{}", stderr(&json_out));
    let reference: Value = serde_json::from_str(&stdout(&json_out)).unwrap();
    let xml = convert_to(&dir, &opt, &canonical, "xml", "c.xml");
    assert!(std::fs::read_to_string(&xml)
        .unwrap()
        .contains("<composition"));
    let flat = convert_to(&dir, &opt, &xml, "flat", "c.flat.json");
    let o = cdr(&[
        "convert",
        "-t",
        &opt,
        "--from",
        "flat",
        "--to",
        "structured",
        &flat,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(s.as_object().unwrap().values().all(Value::is_object), "{s}");
    let structured = dir.write("c.structured.json", stdout(&o));
    let o = cdr(&[
        "convert",
        "--template",
        &opt,
        "--from=structured",
        "--to=json",
        "--compact",
        &structured,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    let back: Value = serde_json::from_str(&stdout(&o)).unwrap();
    // FLAT does not carry rm_version; everything else comes back.
    let strip = |mut v: Value| {
        if let Some(d) = v["archetype_details"].as_object_mut() {
            d.remove("rm_version");
        }
        let mut content = v["content"].take();
        for entry in content.as_array_mut().into_iter().flatten() {
            entry.as_object_mut().unwrap().remove("archetype_details");
        }
        v["content"] = content;
        v
    };
    assert_eq!(strip(back), strip(reference));

    // Errors: exit 1 for input, 2 for usage and templates.
    let unknown = dir.write("unknown.json", r#"{"nope": {}}"#);
    let o = cdr(&[
        "convert",
        "-t",
        &opt,
        "--from",
        "structured",
        "--to",
        "json",
        &unknown,
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nope: unknown path"), "{}", stderr(&o));
    let o = cdr(&[
        "convert",
        "-t",
        &opt,
        "--to",
        "json",
        &dir.path("absent.json"),
    ]);
    assert_eq!(code(&o), 1);
    for args in [
        vec!["convert", &canonical],
        vec!["convert", "--to", "flat", &canonical],
        vec!["convert", "--from", "flat", "--to", "json", &flat],
        vec!["convert", "--to", "pdf", &canonical],
        vec!["convert", "--to", "json"],
        vec!["convert", "--to", "json", &canonical, &flat],
        vec!["convert", "--to", "json", "--bogus", &canonical],
    ] {
        let o = cdr(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    let o = cdr(&[
        "convert",
        "-t",
        &dir.path("absent.opt"),
        "--to",
        "flat",
        &canonical,
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn corpus_structured_and_flat_files_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/nested.en.v1");
    if !root.join("template.opt").exists() {
        eprintln!(
            "corpus absent: {} not found; smoke test skipped",
            root.display()
        );
        return;
    }
    let opt = root.join("template.opt");
    for (format, file) in [
        ("structured", "structured/it__nested.en.v1__full.json"),
        ("flat", "flat/it__nested.en.v1__full.json"),
    ] {
        let o = cdr(&[
            "validate",
            "--template",
            opt.to_str().unwrap(),
            "--format",
            format,
            root.join(file).to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{file}: {}{}", stdout(&o), stderr(&o));
    }
}

#[test]
fn template_example_validates_in_every_format() {
    let (dir, opt, _) = TempDir::with_fixtures("example");
    for (format, name) in [
        ("json", "e.json"),
        ("xml", "e.xml"),
        ("flat", "e.flat.json"),
        ("structured", "e.structured.json"),
    ] {
        let o = cdr(&["template", "example", "--format", format, &opt]);
        assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        let file = dir.write(name, stdout(&o));
        let o = cdr(&["validate", "--template", &opt, "--format", format, &file]);
        assert_eq!(code(&o), 0, "{format}: {}", stdout(&o));
    }
    let o = cdr(&["template", "example", "--compact", &opt]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let c: Value = serde_json::from_str(&stdout(&o)).expect("canonical JSON by default");
    assert_eq!(c["_type"], "COMPOSITION");
    assert_eq!(stdout(&o).lines().count(), 1);
    for args in [
        vec!["template", "example", "--format", "yaml", &opt],
        vec!["template", "example", &opt, "--format"],
        vec!["template", "webtemplate", "--format", "flat", &opt],
        vec!["template", "example"],
    ] {
        assert_eq!(code(&cdr(&args)), 2, "{args:?}");
    }
    let junk = dir.write("junk.opt", "<not-a-template/>");
    assert_eq!(code(&cdr(&["template", "example", &junk])), 1);
}

// ------------------------------------------------------------------ cdr archetype check

fn adl_fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cdr-adl/tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const ADL_ALL: &str = "openEHR-EHR-OBSERVATION.cdr_all_constraints.v1.adl";
const ADL_PARENT: &str = "openEHR-EHR-CLUSTER.cdr_parent.v1.adl";
const ADL_CHILD: &str = "openEHR-EHR-CLUSTER.cdr_parent-child.v1.adl";

/// The lines of the output that are errors (not warnings).
fn error_lines(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter(|l| !l.contains(": warning: "))
        .map(str::to_owned)
        .collect()
}

fn line_in(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn archetype_check_of_good_archetypes_exits_0() {
    let dir = TempDir::new("adl-good");
    for name in [ADL_ALL, ADL_PARENT, ADL_CHILD] {
        dir.write(name, adl_fixture(name));
    }
    let o = cdr(&["archetype", "check", &dir.path("")]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(error_lines(&o).is_empty(), "{}", stdout(&o));
    // The one warning: `is_integral`, an RM function, constrained in the all-constraints one.
    let out = stdout(&o);
    let all = adl_fixture(ADL_ALL);
    let expected = format!(
        "{}:{}:",
        dir.path(ADL_ALL),
        line_in(&all, "is_integral matches")
    );
    assert!(out.starts_with(&expected), "{out}");
    assert!(out.contains(": ICARM: warning: "), "{out}");
    assert!(
        stderr(&o).contains("3 archetypes checked"),
        "{}",
        stderr(&o)
    );
    // --strict: warnings fail too.
    let o = cdr(&["archetype", "check", "--strict", &dir.path("")]);
    assert_eq!(code(&o), 1);
    // One file on its own.
    let o = cdr(&["archetype", "check", &dir.path(ADL_PARENT)]);
    assert_eq!((code(&o), stdout(&o)), (0, String::new()));
}

#[test]
fn archetype_check_reports_every_finding_with_file_line_and_column() {
    let dir = TempDir::new("adl-bad");
    let all = adl_fixture(ADL_ALL);
    let broken = all
        .replacen("ELEMENT[at0022]", "ELEMENT[at0099]", 1)
        .replacen("[ac0001]}", "[ac0002]}", 1)
        .replacen(
            "ELEMENT[at0005] occurrences",
            "ELEMENT[at0004] occurrences",
            1,
        )
        .replacen(
            "openEHR-EHR-CLUSTER\\.device(",
            "openEHR-EHR-OBSERVATION\\.device(",
            1,
        );
    let file = dir.write("broken.adl", &broken);
    let o = cdr(&["archetype", "check", &file]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let errors = error_lines(&o);
    let at = |needle: &str, code: &str| {
        let line = line_in(&all, needle);
        let prefix = format!("{file}:{line}:");
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(&format!(": {code}: "))),
            "no {code} at line {line}: {errors:#?}"
        );
    };
    at("ELEMENT[at0022]", "VATDF");
    at("[ac0001]}", "VACDF");
    at("ELEMENT[at0005] occurrences", "VACMM");
    at("archetype_id/value matches {/openEHR-EHR-CLUSTER", "VDFAI");
    assert_eq!(errors.len(), 4, "{errors:#?}");
    // Columns count characters from 1.
    let vatdf = errors.iter().find(|l| l.contains("VATDF")).unwrap();
    let line = line_in(&all, "ELEMENT[at0022]");
    let column = all.lines().nth(line - 1).unwrap().find("ELEMENT").unwrap() + 1;
    assert!(
        vatdf.starts_with(&format!("{file}:{line}:{column}: VATDF: ")),
        "{vatdf}"
    );
}

#[test]
fn archetype_check_of_a_specialisation_uses_its_parent() {
    let dir = TempDir::new("adl-spec");
    let wider = adl_fixture(ADL_CHILD).replacen("|0..5|", "|0..50|", 1);
    let child = dir.write(ADL_CHILD, &wider);
    // Alone: the parent is missing, which is only a warning.
    let o = cdr(&["archetype", "check", &child]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains(": VASID: warning: "), "{}", stdout(&o));
    // With the parent: the widened interval is an error.
    dir.write(ADL_PARENT, adl_fixture(ADL_PARENT));
    let o = cdr(&["archetype", "check", &dir.path("")]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let line = line_in(&wider, "|0..50|");
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with(&format!("{child}:{line}:")) && errors[0].contains(": VSONNC: "),
        "{errors:#?}"
    );
}

#[test]
fn archetype_check_of_unreadable_or_unparseable_files_exits_1() {
    let dir = TempDir::new("adl-unreadable");
    let bad = dir.write(
        "bad.adl",
        "archetype\n\topenEHR-EHR-CLUSTER.x.v1\nconcept\n\t[at0000\n",
    );
    let o = cdr(&["archetype", "check", &bad]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).starts_with(&format!(
            "{bad}:5:1: parse: expected `]`, found end of input"
        )),
        "{}",
        stdout(&o)
    );
    let o = cdr(&["archetype", "check", &dir.path("absent.adl")]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("cannot read file"), "{}", stdout(&o));
    // A good file beside a bad one: still 1, and the good one is still checked.
    let good = dir.write(ADL_PARENT, adl_fixture(ADL_PARENT));
    let o = cdr(&["archetype", "check", &good, &bad]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("1 archetypes checked, 1 did not parse or read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn archetype_usage_errors_exit_2() {
    for args in [
        vec!["archetype"],
        vec!["archetype", "frob"],
        vec!["archetype", "check"],
        vec!["archetype", "check", "--verbose", "x.adl"],
    ] {
        let o = cdr(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(
            stderr(&o).contains("Usage: cdr archetype"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn archetype_check_of_the_corpus_finds_only_the_known_errors() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if !corpus.is_dir() {
        eprintln!(
            "corpus absent: {} not found; corpus smoke test skipped",
            corpus.display()
        );
        return;
    }
    let o = cdr(&["archetype", "check", &corpus.to_string_lossy()]);
    assert_eq!(code(&o), 1);
    // The eight breaches pinned, with their reasons, in cdr-adl's corpus test.
    let errors = error_lines(&o);
    assert_eq!(errors.len(), 8, "{errors:#?}");
    assert!(
        stderr(&o).contains("292 archetypes checked, 0 did not parse or read, 8 errors"),
        "{}",
        stderr(&o)
    );
}

// ------------------------------------------------------------------ cdr template build

/// The compiler fixtures of cdr-template (archetypes and `visit.oet`), copied into a new
/// directory with the archetypes one level down (found by id anywhere below it).
fn oet_fixtures(name: &str) -> (TempDir, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cdr-template/tests/fixtures/compile");
    let dir = TempDir::new(name);
    std::fs::create_dir_all(dir.0.join("archetypes/nested")).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let to = if file.ends_with(".adl") {
            format!("archetypes/nested/{file}")
        } else {
            file
        };
        dir.write(&to, std::fs::read(e.path()).unwrap());
    }
    let oet = dir.path("visit.oet");
    (dir, oet)
}

#[test]
fn template_build_prints_an_opt_that_cdr_reads() {
    let (dir, oet) = oet_fixtures("build-ok");
    let o = cdr(&[
        "template",
        "build",
        "--archetypes",
        &dir.path("archetypes"),
        &oet,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let opt = dir.write("visit.opt", &o.stdout);
    let o = cdr(&["template", "webtemplate", &opt]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let wt: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(wt["templateId"], "cdr visit");
    let ids: Vec<&str> = wt["tree"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&"home_reading"), "{ids:?}");
}

#[test]
fn template_build_lists_every_error_with_file_and_line() {
    let (dir, oet) = oet_fixtures("build-bad");
    let text = std::fs::read_to_string(&oet).unwrap();
    let broken = text
        .replace("cdr_device.v1\"", "cdr_missing.v1\"")
        .replace("items[at0010]\" max=\"0\"", "items[at0099]\" max=\"0\"");
    let bad = dir.write("bad.oet", &broken);
    let o = cdr(&[
        "template",
        "build",
        "--archetypes",
        &dir.path("archetypes"),
        &bad,
    ]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    let rule = format!("{bad}:{}: rule ", line_in(&broken, "at0099"));
    let missing = format!(
        "{bad}:{}: archetype openEHR-EHR-CLUSTER.cdr_missing.v1 not found",
        line_in(&broken, "cdr_missing")
    );
    assert!(err.contains(&rule) && err.contains(&missing), "{err}");
}

#[test]
fn template_build_usage_and_unreadable_input_exit_2() {
    let (dir, oet) = oet_fixtures("build-usage");
    let archetypes = dir.path("archetypes");
    for args in [
        vec!["template", "build", &oet],
        vec!["template", "build", "--archetypes", &archetypes],
        vec!["template", "build", "--archetypes"],
        vec![
            "template",
            "build",
            "--archetypes",
            &archetypes,
            "--strict",
            &oet,
        ],
        vec!["template", "build", "--archetypes", &archetypes, &oet, &oet],
    ] {
        assert_eq!(code(&cdr(&args)), 2, "{args:?}");
    }
    let absent = dir.path("absent.oet");
    let o = cdr(&["template", "build", "--archetypes", &archetypes, &absent]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let o = cdr(&[
        "template",
        "build",
        "--archetypes",
        &dir.path("nowhere"),
        &oet,
    ]);
    assert_eq!(code(&o), 2);
}

//! Clinical models as source: the OET templates below a directory compiled, with the ADL 1.4
//! archetypes found by id anywhere below it (as the Ocean tools find them), into operational
//! templates, and installed in the store as uploaded templates (`cdr serve --models DIR`); and
//! the care-plan models cdr ships, built into the binary and installed on a store's first start.

use std::path::{Path, PathBuf};

use cdr_store::{Principal, Store, StoreError};

mod shipped;

/// One template compiled from its OET.
#[derive(Debug, Clone)]
pub struct Model {
    /// The OET file.
    pub file: PathBuf,
    /// Its template id (the OET's name).
    pub template_id: String,
    /// The OPT 1.4 XML.
    pub opt: String,
}

/// Every file below `dir` whose extension is `ext` (any case), sorted by path.
pub fn files_below(dir: &Path, ext: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every archetype below `dir`, with a message for each `.adl` file that could not be read or
/// parsed (`file:line:col: parse: …`).
pub fn load_archetypes(dir: &Path) -> std::io::Result<(Vec<cdr_adl::Archetype>, Vec<String>)> {
    let (mut archetypes, mut problems) = (Vec::new(), Vec::new());
    for file in files_below(dir, "adl")? {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => match cdr_adl::parse(&text, &name) {
                Ok(a) => archetypes.push(a),
                Err(e) => problems.push(format!(
                    "{}:{}:{}: parse: {}",
                    e.source_name, e.line, e.column, e.message
                )),
            },
            Err(e) => problems.push(format!("{name}: cannot read file: {e}")),
        }
    }
    Ok((archetypes, problems))
}

/// Every OET template below `dir` that parses (the templates others may embed, found by id).
pub fn load_templates(dir: &Path) -> std::io::Result<Vec<cdr_template::compile::Oet>> {
    Ok(files_below(dir, "oet")?
        .iter()
        .filter_map(|f| cdr_template::compile::parse_oet(&std::fs::read(f).ok()?).ok())
        .collect())
}

/// Compiles every `.oet` below `dir`. On any failure, every error (`file:line: message`, then
/// the archetypes that could not be read, which a template may miss).
pub fn compile_dir(dir: &Path) -> Result<Vec<Model>, Vec<String>> {
    let unreadable = |e: std::io::Error| vec![format!("{}: cannot read: {e}", dir.display())];
    let (archetypes, problems) = load_archetypes(dir).map_err(unreadable)?;
    let templates = load_templates(dir).map_err(unreadable)?;
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for file in files_below(dir, "oet").map_err(unreadable)? {
        match std::fs::read(&file) {
            Ok(bytes) => sources.push((file, bytes)),
            Err(e) => errors.push(format!("{}: cannot read: {e}", file.display())),
        }
    }
    let compiled = compile_sources(&sources, &archetypes, &templates);
    match (compiled, errors.is_empty()) {
        (Ok(models), true) => Ok(models),
        (compiled, _) => {
            errors.extend(compiled.err().unwrap_or_default());
            errors.extend(problems.into_iter().map(|p| format!("skipped {p}")));
            Err(errors)
        }
    }
}

/// Compiles each OET source (a file name and its bytes) with the archetypes and the templates
/// they may embed; every error of every template when any fails, and no two templates may
/// share an id.
pub fn compile_sources(
    sources: &[(PathBuf, Vec<u8>)],
    archetypes: &[cdr_adl::Archetype],
    templates: &[cdr_template::compile::Oet],
) -> Result<Vec<Model>, Vec<String>> {
    let mut models: Vec<Model> = Vec::new();
    let mut errors = Vec::new();
    for (file, bytes) in sources {
        let name = file.display().to_string();
        let opt = match cdr_template::compile::compile_with(bytes, archetypes, templates) {
            Ok(opt) => opt,
            Err(es) => {
                errors.extend(es.iter().map(|e| e.located(&name)));
                continue;
            }
        };
        let template_id = match cdr_template::parse_opt(opt.as_bytes()) {
            Ok(t) => t.template_id,
            Err(e) => {
                errors.push(format!("{name}: the compiled OPT does not read back: {e}"));
                continue;
            }
        };
        if let Some(other) = models.iter().find(|m| m.template_id == template_id) {
            errors.push(format!(
                "{name}: template id '{template_id}' is also the name of {}",
                other.file.display()
            ));
            continue;
        }
        models.push(Model {
            file: file.clone(),
            template_id,
            opt,
        });
    }
    if errors.is_empty() {
        Ok(models)
    } else {
        Err(errors)
    }
}

/// The care-plan models cdr ships (the repository's `archetypes/` and `templates/`, built into
/// the binary), compiled.
pub fn default_models() -> Result<Vec<Model>, Vec<String>> {
    let mut archetypes = Vec::new();
    for (name, text) in shipped::ARCHETYPES {
        let a = cdr_adl::parse(text, name).map_err(|e| {
            vec![format!(
                "{}:{}:{}: parse: {}",
                e.source_name, e.line, e.column, e.message
            )]
        })?;
        archetypes.push(a);
    }
    let sources: Vec<(PathBuf, Vec<u8>)> = shipped::TEMPLATES
        .iter()
        .map(|(name, text)| (PathBuf::from(name), text.as_bytes().to_vec()))
        .collect();
    compile_sources(&sources, &archetypes, &[])
}

/// The setting that records the default models' installation (its value lists the template
/// ids installed).
pub const DEFAULT_MODELS_SETTING: &str = "default_models";

/// Installs the default models unless the store has had them once: on a store's first start,
/// each becomes an uploaded template (a stored template of the same id that differs is kept),
/// and the store remembers it, so templates removed later are not brought back. `None` when
/// the store had them already.
pub async fn install_defaults(
    store: &Store,
    caller: &Principal,
) -> Result<Option<Vec<(String, Installed)>>, String> {
    let setting = store
        .setting(DEFAULT_MODELS_SETTING)
        .await
        .map_err(|e| e.to_string())?;
    if setting.is_some() {
        return Ok(None);
    }
    let models = default_models()
        .map_err(|errors| format!("the default models do not compile:\n{}", errors.join("\n")))?;
    let mut done = Vec::new();
    for m in &models {
        let installed = match store.put_template(caller, &m.opt).await {
            Ok(u) if u.created => Installed::Created,
            Ok(_) => Installed::Unchanged,
            Err(StoreError::Conflict(_)) => Installed::Kept,
            Err(e) => {
                return Err(format!(
                    "{}: template '{}': {e}",
                    m.file.display(),
                    m.template_id
                ))
            }
        };
        done.push((m.template_id.clone(), installed));
    }
    let ids: Vec<&str> = models.iter().map(|m| m.template_id.as_str()).collect();
    store
        .set_setting(DEFAULT_MODELS_SETTING, &ids.join(" "))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(done))
}

/// What installing a model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A new template.
    Created,
    /// The same OPT was stored already.
    Unchanged,
    /// The stored OPT under that id was replaced.
    Replaced,
    /// A different OPT was stored under that id and stays.
    Kept,
}

/// Stores each model as an uploaded template, replacing a stored OPT of the same id that
/// differs (refused while compositions were committed with it). Stops at the first failure.
pub async fn install(
    store: &Store,
    caller: &Principal,
    models: &[Model],
) -> Result<Vec<Installed>, String> {
    let mut out = Vec::new();
    for m in models {
        let failed =
            |e: StoreError| format!("{}: template '{}': {e}", m.file.display(), m.template_id);
        let done = match store.put_template(caller, &m.opt).await {
            Ok(u) if u.created => Installed::Created,
            Ok(_) => Installed::Unchanged,
            Err(StoreError::Conflict(_)) => {
                store
                    .replace_template(caller, &m.template_id, &m.opt)
                    .await
                    .map_err(failed)?;
                Installed::Replaced
            }
            Err(e) => return Err(failed(e)),
        };
        out.push(done);
    }
    Ok(out)
}

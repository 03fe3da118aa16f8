//! Operational templates: upload, list, get; parsed templates cached in memory.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use cdr_template::Template;

use crate::audit::{insert_write_event, mark_recorded, AuditAction, WriteEvent};
use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// What the template list shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMeta {
    pub template_id: String,
    pub concept: String,
    /// The root archetype id (e.g. `openEHR-EHR-COMPOSITION.encounter.v1`).
    pub archetype_id: String,
    pub created_at: DateTime<Utc>,
}

/// The outcome of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateUpload {
    pub meta: TemplateMeta,
    /// False when the identical OPT was already stored (an accepted re-upload).
    pub created: bool,
}

fn root_archetype(t: &Template) -> String {
    match &t.definition.kind {
        cdr_template::CObjectKind::ArchetypeRoot(r) => r.archetype_id.clone(),
        _ => t.definition.node_id.clone(),
    }
}

impl Store {
    /// Stores an uploaded OPT. A different OPT under an existing template id is a conflict; the
    /// identical OPT again is accepted (`created = false`). A stored template's audit event
    /// (the template id) commits with it.
    pub async fn put_template(&self, caller: &Principal, opt: &str) -> Result<TemplateUpload> {
        let parsed = cdr_template::parse_opt(opt.as_bytes())
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        if parsed.template_id.trim().is_empty() {
            return Err(StoreError::BadRequest(
                "the OPT has no template_id/value".into(),
            ));
        }
        let archetype_id = root_archetype(&parsed);
        let now = crate::commit::now();
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .query_opt(
                "INSERT INTO template (template_id, concept, root_archetype, opt, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (template_id) DO NOTHING \
                 RETURNING created_at",
                &[
                    &parsed.template_id,
                    &parsed.concept,
                    &archetype_id,
                    &opt,
                    &now,
                ],
            )
            .await?;
        let template_id = parsed.template_id.clone();
        let concept = parsed.concept.clone();
        if inserted.is_some() {
            let event = WriteEvent::new(caller, AuditAction::Create, vec![template_id.clone()]);
            insert_write_event(&tx, None, &event).await?;
            tx.commit().await?;
            mark_recorded();
            self.cache_template(Arc::new(parsed));
            return Ok(TemplateUpload {
                meta: TemplateMeta {
                    template_id,
                    concept,
                    archetype_id,
                    created_at: now,
                },
                created: true,
            });
        }
        let row = tx
            .query_one(
                "SELECT opt, concept, root_archetype, created_at FROM template WHERE template_id = $1",
                &[&template_id],
            )
            .await?;
        let stored: String = row.get(0);
        if stored != opt {
            return Err(StoreError::template_exists(&template_id));
        }
        Ok(TemplateUpload {
            meta: TemplateMeta {
                template_id,
                concept: row.get(1),
                archetype_id: row.get(2),
                created_at: row.get(3),
            },
            created: false,
        })
    }

    /// Replaces the OPT of a stored template (EHRbase's admin update): the new OPT must parse
    /// and carry `template_id` (400, judged first, as EHRbase does); not found when there is
    /// none under that id; refused with
    /// [`StoreError::InUse`] while composition versions were committed with the template, whose
    /// validation the new OPT could change. Keeps the creation time. The audit event (the
    /// template id) commits with the change.
    pub async fn replace_template(
        &self,
        caller: &Principal,
        template_id: &str,
        opt: &str,
    ) -> Result<TemplateMeta> {
        let parsed = cdr_template::parse_opt(opt.as_bytes())
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        if parsed.template_id != template_id {
            return Err(StoreError::BadRequest(format!(
                "the OPT is template '{}', not '{template_id}'",
                parsed.template_id
            )));
        }
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let created_at = tx
            .query_opt(
                "SELECT created_at FROM template WHERE template_id = $1 FOR UPDATE",
                &[&template_id],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("template", template_id))?
            .get(0);
        crate::admin::refuse_if_used(&tx, "update", &[template_id.to_owned()]).await?;
        let archetype_id = root_archetype(&parsed);
        tx.execute(
            "UPDATE template SET concept = $2, root_archetype = $3, opt = $4 \
             WHERE template_id = $1",
            &[&template_id, &parsed.concept, &archetype_id, &opt],
        )
        .await?;
        let event = WriteEvent::new(caller, AuditAction::Update, vec![template_id.to_owned()]);
        insert_write_event(&tx, None, &event).await?;
        tx.commit().await?;
        mark_recorded();
        let meta = TemplateMeta {
            template_id: template_id.to_owned(),
            concept: parsed.concept.clone(),
            archetype_id,
            created_at,
        };
        self.cache_template(Arc::new(parsed));
        Ok(meta)
    }

    /// All stored templates, ordered by id.
    pub async fn list_templates(&self, _caller: &Principal) -> Result<Vec<TemplateMeta>> {
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT template_id, concept, root_archetype, created_at FROM template \
                 ORDER BY template_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| TemplateMeta {
                template_id: r.get(0),
                concept: r.get(1),
                archetype_id: r.get(2),
                created_at: r.get(3),
            })
            .collect())
    }

    /// The stored OPT text of a template.
    pub async fn get_template_opt(&self, _caller: &Principal, template_id: &str) -> Result<String> {
        self.load_opt(template_id).await
    }

    async fn load_opt(&self, template_id: &str) -> Result<String> {
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT opt FROM template WHERE template_id = $1",
                &[&template_id],
            )
            .await?
            .ok_or_else(|| StoreError::not_found("template", template_id))?;
        Ok(row.get(0))
    }

    /// The parsed template, from the cache or parsed from the stored OPT once.
    pub async fn get_template(
        &self,
        _caller: &Principal,
        template_id: &str,
    ) -> Result<Arc<Template>> {
        self.parsed_template(template_id).await
    }

    async fn parsed_template(&self, template_id: &str) -> Result<Arc<Template>> {
        if let Some(t) = self.cached_template(template_id) {
            return Ok(t);
        }
        let opt = self.load_opt(template_id).await?;
        let parsed = cdr_template::parse_opt(opt.as_bytes()).map_err(|e| {
            StoreError::BadRequest(format!(
                "stored template '{template_id}' does not parse: {e}"
            ))
        })?;
        let parsed = Arc::new(parsed);
        self.cache_template(parsed.clone());
        Ok(parsed)
    }

    /// The template a composition names, for validation: an unknown template is a validation
    /// issue (422), not a missing resource.
    pub(crate) async fn template_for_validation(&self, template_id: &str) -> Result<Arc<Template>> {
        match self.parsed_template(template_id).await {
            Err(StoreError::NotFound { .. }) => {
                Err(StoreError::Invalid(vec![cdr_validation::ValidationIssue {
                    path: "/archetype_details/template_id/value".into(),
                    archetype_path: "/".into(),
                    constraint: cdr_validation::Constraint::TemplateMismatch,
                    expected: Some("the id of an uploaded template".into()),
                    actual: Some(template_id.to_owned()),
                    message: format!("template '{template_id}' is not known to this server"),
                }]))
            }
            other => other,
        }
    }

    fn cached_template(&self, template_id: &str) -> Option<Arc<Template>> {
        let cache = self
            .inner
            .templates
            .read()
            .unwrap_or_else(|e| e.into_inner());
        cache.get(template_id).cloned()
    }

    pub(crate) fn uncache_template(&self, template_id: &str) {
        let mut cache = self
            .inner
            .templates
            .write()
            .unwrap_or_else(|e| e.into_inner());
        cache.remove(template_id);
    }

    fn cache_template(&self, t: Arc<Template>) {
        let mut cache = self
            .inner
            .templates
            .write()
            .unwrap_or_else(|e| e.into_inner());
        cache.insert(t.template_id.clone(), t);
    }
}

// Finding a person (or creating their EHR) and the list of their care plans.

import { h, replace, message, uid, timeEl, versionNumber, objectId } from '/ui/app-dom.js';
import {
  findEhr, createEhr, rememberSubject, subjectOf, listPlans, listTemplates, mayWriteRecords,
  webTemplate, urgentFacts, mayWriteEhr,
} from '/ui/app-api.js';

export const NHS = 'uk.nhs.nhs_number';

/** Whether a string is a valid NHS number: ten digits whose last is the modulus 11 check. */
export function validNhsNumber(s) {
  if (!/^\d{10}$/.test(s)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i += 1) sum += Number(s[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return false;
  return (check === 11 ? 0 : check) === Number(s[9]);
}

function identifierName(namespace) {
  return namespace === NHS ? 'NHS number' : 'Identifier';
}

/** How a subject is shown: "NHS number 943 476 5919", or the id with its namespace. */
export function personLabel(subject) {
  if (!subject || !subject.id) return 'Person without an identifier';
  if (subject.namespace === NHS && /^\d{10}$/.test(subject.id)) {
    const s = subject.id;
    return `NHS number ${s.slice(0, 3)} ${s.slice(3, 6)} ${s.slice(6)}`;
  }
  return `${subject.id} (${subject.namespace})`;
}

/** The breadcrumb of a person's page. */
export async function personCrumb(ehrId) {
  let subject = null;
  try {
    subject = await subjectOf(ehrId);
  } catch {
    subject = null;
  }
  return [personLabel(subject), `/ui/ehr/${ehrId}`];
}

function normalise(id, namespace) {
  const trimmed = id.trim();
  return namespace === NHS ? trimmed.replace(/[\s-]/g, '') : trimmed;
}

function searchForm(ctx, subjectId = '', namespace = NHS) {
  const idInput = uid('subject-id');
  const nsInput = uid('subject-ns');
  const hintId = uid('subject-hint');
  const label = h('label', { for: idInput }, identifierName(namespace));
  const ns = h('input', {
    id: nsInput, name: 'subject_namespace', value: namespace, autocomplete: 'off', spellcheck: 'false',
    oninput: () => replace(label, identifierName(ns.value.trim())),
  });
  const id = h('input', {
    id: idInput, name: 'subject_id', value: subjectId, required: true, autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': hintId,
  });
  return h('form', {
    role: 'search',
    class: 'search',
    onsubmit: (ev) => {
      ev.preventDefault();
      const namespace2 = ns.value.trim() || NHS;
      const subject = normalise(id.value, namespace2);
      if (!subject) return;
      const q = new URLSearchParams({ subject_id: subject, subject_namespace: namespace2 });
      ctx.navigate(`/ui/ehr?${q}`);
    },
  },
  h('div', { class: 'field' }, label,
    h('p', { class: 'hint', id: hintId }, 'The person\'s identifier, e.g. their 10-digit NHS number.'),
    id),
  h('details', { open: namespace !== NHS },
    h('summary', {}, 'Another kind of identifier'),
    h('div', { class: 'field' }, h('label', { for: nsInput }, 'Identifier namespace'), ns)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Find')));
}

/** `/ui/`: find a person. */
export async function findView(ctx) {
  ctx.setCrumbs([]);
  ctx.setTitle('Find a person');
  replace(ctx.view, h('h1', {}, 'Find a person'), searchForm(ctx));
}

/** `/ui/ehr?subject_id=…&subject_namespace=…`: opens that person, or offers to create their EHR. */
export async function subjectView(ctx) {
  const namespace = (ctx.params.get('subject_namespace') || NHS).trim();
  const subjectId = normalise(ctx.params.get('subject_id') || '', namespace);
  if (!subjectId) {
    await findView(ctx);
    return;
  }
  const subject = { id: subjectId, namespace };
  ctx.setCrumbs([[personLabel(subject)]]);
  ctx.setTitle(personLabel(subject));
  const ehr = await findEhr(subjectId, namespace);
  if (!ctx.current()) return;
  if (ehr) {
    const ehrId = ehr.ehr_id.value;
    rememberSubject(ehrId, subject);
    ctx.navigate(`/ui/ehr/${ehrId}`, { replace: true });
    return;
  }
  const nhsInvalid = namespace === NHS && !validNhsNumber(subjectId);
  const may = await mayWriteRecords();
  if (!ctx.current()) return;
  const result = h('div', { class: 'not-found' });
  replace(ctx.view,
    h('h1', {}, 'Find a person'),
    searchForm(ctx, subjectId, namespace),
    result);
  result.append(message('warn', h('p', {}, `No record was found for ${personLabel(subject)}.`)));
  if (nhsInvalid) {
    result.append(message('error', h('p', {},
      `${subjectId} is not a valid NHS number (ten digits ending in the right check digit). `
      + 'Check it before creating a record.')));
  } else if (!may) {
    result.append(message('info', h('p', {},
      'You may not create records: your role does not allow changing records.')));
  } else {
    const button = h('button', {
      type: 'button',
      class: 'primary',
      onclick: async () => {
        button.disabled = true;
        try {
          const created = await createEhr(subjectId, namespace);
          const ehrId = created.ehr_id.value;
          rememberSubject(ehrId, subject);
          ctx.navigate(`/ui/ehr/${ehrId}`, {
            replace: true,
            note: message('ok', h('p', {}, `A record was created for ${personLabel(subject)}.`)),
          });
        } catch (err) {
          button.disabled = false;
          let text = `The record was not created: ${err.message}`;
          if (err.forbidden) text = `You may not create records: ${err.message}`;
          if (err.status === 409) {
            // The search found none the user may see, yet the server has one.
            button.remove();
            text = `${personLabel(subject)} already has a record, which you may not see (the person's `
              + 'consent or the record\'s grants do not allow it). Ask the team that keeps it for access.';
          }
          result.append(message('error', h('p', {}, text)));
        }
      },
    }, `Create a record for ${personLabel(subject)}`);
    result.append(h('div', { class: 'actions' }, button));
  }
}

function statusBadge(status) {
  if (!status) return h('span', { class: 'status status-none' }, '—');
  const kind = /agreed/i.test(status) ? 'agreed' : /draft/i.test(status) ? 'draft'
    : /withdrawn|cancel/i.test(status) ? 'withdrawn' : 'other';
  return h('span', { class: `status status-${kind}` }, status);
}

function templateLabel(t) {
  const name = t.name || (t.concept !== t.template_id && t.concept);
  return name ? `${name} (${t.template_id})` : t.template_id;
}

/** The templates with the names their web templates give them (when there are few). */
async function namedTemplates() {
  const templates = await listTemplates();
  if (templates.length > 40) return templates;
  return Promise.all(templates.map((t) => webTemplate(t.template_id).then(
    (wt) => ({ ...t, name: wt && wt.tree && (wt.tree.localizedName || wt.tree.name) }),
    () => t,
  )));
}

/** The resuscitation decisions and preferred places the plans record, newest plan first. */
function urgentTable(plans, urgent, base) {
  const withFacts = plans.filter((p) => urgent.has(p.uid));
  if (withFacts.length === 0) return null;
  return h('section', { class: 'urgent', 'aria-labelledby': 'urgent-h' },
    h('h2', { id: 'urgent-h' }, 'Resuscitation and preferred place of care'),
    h('table', { class: 'urgent-facts' },
      h('caption', {}, 'As the plans record them, most recently changed first'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Plan'),
        h('th', { scope: 'col' }, 'CPR decision'),
        h('th', { scope: 'col' }, 'Decided'),
        h('th', { scope: 'col' }, 'Preferred place of care'),
        h('th', { scope: 'col' }, 'Preferred place of death'))),
      h('tbody', {}, withFacts.map((p) => {
        const f = urgent.get(p.uid);
        return h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: `${base}/plan/${objectId(p.uid)}/summary` }, p.name),
            h('span', { class: 'template-id' }, `version ${versionNumber(p.uid)}`)),
          h('td', { class: 'cpr', 'data-label': 'CPR decision' }, f.cpr || '—'),
          h('td', { 'data-label': 'Decided' }, timeEl(f.decided)),
          h('td', { 'data-label': 'Preferred place of care' }, f.placeOfCare || '—'),
          h('td', { 'data-label': 'Preferred place of death' }, f.placeOfDeath || '—'));
      }))));
}

/** `/ui/ehr/{ehr}`: the person's care plans; start a new one. */
export async function personView(ctx, ehrId) {
  const [subject, plans, templates, urgent] = await Promise.all([
    subjectOf(ehrId), listPlans(ehrId), namedTemplates(),
    urgentFacts(ehrId).catch(() => new Map()),
  ]);
  const { may, reason } = await mayWriteEhr(ehrId, templates[0] && templates[0].template_id);
  if (!ctx.current()) return;
  const who = personLabel(subject);
  ctx.setCrumbs([[who]]);
  ctx.setTitle(who);
  const base = `/ui/ehr/${ehrId}`;
  const table = plans.length === 0
    ? h('p', {}, 'No care plans yet.')
    : h('table', { class: 'plans' },
      h('caption', {}, `${plans.length} ${plans.length === 1 ? 'plan' : 'plans'}, most recently changed first`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Plan'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Version'),
        h('th', { scope: 'col' }, 'Last changed by'),
        h('th', { scope: 'col' }, 'Last changed'),
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, plans.map((p) => {
        const id = objectId(p.uid);
        return h('tr', {},
          h('th', { scope: 'row' },
            h('a', { href: `${base}/plan/${id}` }, p.name),
            h('span', { class: 'template-id' }, p.templateId)),
          h('td', { 'data-label': 'Status' }, statusBadge(p.status)),
          h('td', { 'data-label': 'Version' }, versionNumber(p.uid)),
          h('td', { 'data-label': 'Last changed by' }, p.committer || '—'),
          h('td', { 'data-label': 'Last changed' }, timeEl(p.committed)),
          h('td', { class: 'row-actions' },
            h('a', { href: `${base}/plan/${id}/summary`, 'aria-label': `Summary of ${p.name}` }, 'Summary'),
            h('a', { href: `${base}/plan/${id}/history`, 'aria-label': `History of ${p.name}` }, 'History')));
      })));

  let start;
  if (!may) {
    start = message('info', h('p', {},
      `You can read these plans but not change them or start new ones: ${reason}.`));
  } else if (templates.length === 0) {
    start = h('p', {}, 'No templates are uploaded, so no plan can be started.');
  } else {
    const selId = uid('template');
    const sorted = [...templates].sort((a, b) => {
      const ca = /care_plan/.test(a.archetype_id || '') ? 0 : 1;
      const cb = /care_plan/.test(b.archetype_id || '') ? 0 : 1;
      return ca - cb || templateLabel(a).localeCompare(templateLabel(b));
    });
    const select = h('select', { id: selId, name: 'template' },
      sorted.map((t) => h('option', { value: t.template_id }, templateLabel(t))));
    start = h('form', {
      class: 'start',
      onsubmit: (ev) => {
        ev.preventDefault();
        ctx.navigate(`${base}/new?${new URLSearchParams({ template: select.value })}`);
      },
    },
    h('div', { class: 'field' }, h('label', { for: selId }, 'Template'), select),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Start a new plan')));
  }

  replace(ctx.view,
    h('h1', {}, who),
    h('p', { class: 'meta' }, 'EHR ', h('code', {}, ehrId)),
    urgentTable(plans, urgent, base),
    h('section', { 'aria-labelledby': 'plans-h' }, h('h2', { id: 'plans-h' }, 'Care plans'), table),
    h('section', { 'aria-labelledby': 'start-h' }, h('h2', { id: 'start-h' }, 'Start a new plan'), start));
}

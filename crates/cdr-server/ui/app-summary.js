// The urgent summary of a plan: the resuscitation decision, preferred place of care and death
// and treatment recommendations first, then everything else compactly; prints cleanly.

import { h, replace, message, timeEl, versionNumber } from '/ui/app-dom.js';
import { compositionMeta, compositionFlat, revisionHistory, labelsOf } from '/ui/app-api.js';
import { indexWebTemplate, summary, planStatus } from '/ui/app-flat.js';
import { personCrumb } from '/ui/app-person.js';

/** A list of labelled values; `emphasise(row)` marks the ones to stand out. */
export function definitionList(rows, emphasise = () => false) {
  return h('dl', { class: 'values' }, rows.map((r) => h('div', { class: emphasise(r) ? 'row key' : 'row' },
    h('dt', {}, r.label), h('dd', {}, r.value))));
}

/** The sections of a summary (`{title, rows}`), each a section with a heading. */
export function sectionList(sections, className = 'part') {
  return sections.map((s) => h('section', { class: className },
    h('h2', {}, s.title), definitionList(s.rows)));
}

/** What a version is: number, who saved it and when, the plan status. */
export function versionFacts(versionUid, versions, flat) {
  const v = versions.find((x) => x.versionUid === versionUid) || {};
  const latest = versions[versions.length - 1];
  const status = planStatus(flat);
  return h('dl', { class: 'facts' },
    h('div', {}, h('dt', {}, 'Version'), h('dd', {}, `${versionNumber(versionUid)}`,
      latest && latest.versionUid !== versionUid ? ` (the latest is ${versionNumber(latest.versionUid)})` : ' (latest)')),
    h('div', {}, h('dt', {}, 'Saved by'), h('dd', {}, v.committer || '—')),
    h('div', {}, h('dt', {}, 'Saved'), h('dd', {}, timeEl(v.committed))),
    status ? h('div', {}, h('dt', {}, 'Plan status'), h('dd', {}, status)) : null);
}

/** `/ui/ehr/{ehr}/plan/{id}/summary[?v=…]`. */
export async function summaryView(ctx, ehrId, id) {
  const wanted = ctx.params.get('v') || id;
  const [crumb, meta, versions, { flat, versionUid }] = await Promise.all([
    personCrumb(ehrId), compositionMeta(ehrId, id), revisionHistory(ehrId, id),
    compositionFlat(ehrId, wanted),
  ]);
  if (!ctx.current()) return;
  const base = `/ui/ehr/${ehrId}/plan/${meta.objectId}`;
  ctx.setCrumbs([crumb, [meta.name, base], ['Summary']]);
  ctx.setTitle(`Summary: ${meta.name}`);
  const wt = await labelsOf(meta.templateId);
  if (!ctx.current()) return;
  const index = indexWebTemplate(wt, document.documentElement.lang);
  const { urgent, sections } = summary(index, flat);
  const urgentPart = urgent.length === 0
    ? message('info', h('p', {}, 'This plan\'s template records no resuscitation decision or preferred place of care.'))
    : h('div', { class: 'urgent' }, urgent.map((u) => h('section', {
      class: `urgent-part urgent-${u.archetype}`,
    },
    h('h2', {}, u.title),
    u.rows.length ? definitionList(u.rows, (r) => r.key)
      : h('p', { class: 'none' }, 'Not recorded in this plan.'))));
  replace(ctx.view,
    h('h1', {}, `Summary: ${meta.name}`),
    h('p', { class: 'person' }, crumb[0]),
    versionFacts(versionUid, versions, flat),
    versionUid !== meta.versionUid ? message('warn', h('p', {},
      `This is version ${versionNumber(versionUid)}, not the latest. `,
      h('a', { href: `${base}/summary` }, 'See the latest'))) : null,
    h('div', { class: 'actions no-print' },
      h('button', { type: 'button', onclick: () => window.print() }, 'Print'),
      h('a', { href: `${base}/history` }, 'Version history')),
    urgentPart,
    sectionList(sections));
}

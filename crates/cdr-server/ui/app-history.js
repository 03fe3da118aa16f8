// A plan's versions: who saved each and when, any version read-only, and two versions
// compared field by field.

import { h, replace, message, uid, timeEl, versionNumber } from '/ui/app-dom.js';
import { compositionMeta, compositionFlat, revisionHistory, labelsOf } from '/ui/app-api.js';
import { indexWebTemplate, diff, rows as flatRows, bySection } from '/ui/app-flat.js';
import { personCrumb } from '/ui/app-person.js';
import { makeForm, diffTable } from '/ui/app-plan.js';
import { sectionList, versionFacts } from '/ui/app-summary.js';

async function load(ehrId, id) {
  const [crumb, meta, versions] = await Promise.all([
    personCrumb(ehrId), compositionMeta(ehrId, id), revisionHistory(ehrId, id),
  ]);
  return { crumb, meta, versions, base: `/ui/ehr/${ehrId}/plan/${meta.objectId}` };
}

function compareForm(ctx, base, versions, a, b) {
  const aId = uid('compare-a');
  const bId = uid('compare-b');
  const options = (selected) => versions.map((v) => h('option', {
    value: v.versionUid, selected: v.versionUid === selected,
  }, `Version ${v.number}${v.committer ? `, ${v.committer}` : ''}`));
  const selA = h('select', { id: aId, name: 'a' }, options(a));
  const selB = h('select', { id: bId, name: 'b' }, options(b));
  return h('form', {
    class: 'compare-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      ctx.navigate(`${base}/compare?${new URLSearchParams({ a: selA.value, b: selB.value })}`);
    },
  },
  h('div', { class: 'field' }, h('label', { for: aId }, 'Compare'), selA),
  h('div', { class: 'field' }, h('label', { for: bId }, 'with'), selB),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Compare')));
}

/** `/ui/ehr/{ehr}/plan/{id}/history`. */
export async function historyView(ctx, ehrId, id) {
  const { crumb, meta, versions, base } = await load(ehrId, id);
  if (!ctx.current()) return;
  ctx.setCrumbs([crumb, [meta.name, base], ['History']]);
  ctx.setTitle(`History: ${meta.name}`);
  const newest = [...versions].reverse();
  const table = h('table', { class: 'history' },
    h('caption', {}, `${versions.length} ${versions.length === 1 ? 'version' : 'versions'}, newest first`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Version'),
      h('th', { scope: 'col' }, 'Change'),
      h('th', { scope: 'col' }, 'Saved by'),
      h('th', { scope: 'col' }, 'Saved'),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', {}, newest.map((v, i) => {
      const q = new URLSearchParams({ v: v.versionUid });
      const older = newest[i + 1];
      return h('tr', {},
        h('th', { scope: 'row' }, String(v.number)),
        h('td', {}, v.changeType || '—', v.description ? h('span', { class: 'hint' }, ` ${v.description}`) : null),
        h('td', {}, v.committer || '—'),
        h('td', {}, timeEl(v.committed, true)),
        h('td', { class: 'row-actions' },
          h('a', { href: `${base}/version?${q}`, 'aria-label': `View version ${v.number}` }, 'View'),
          older ? h('a', {
            href: `${base}/compare?${new URLSearchParams({ a: older.versionUid, b: v.versionUid })}`,
            'aria-label': `Changes in version ${v.number}`,
          }, 'Changes') : null));
    })));
  const latest = versions[versions.length - 1];
  const previous = versions[versions.length - 2] || latest;
  replace(ctx.view,
    h('h1', {}, `History: ${meta.name}`),
    h('p', { class: 'view-links' }, h('a', { href: base }, 'Open the latest version'), ' ',
      h('a', { href: `${base}/summary` }, 'Summary')),
    table,
    versions.length > 1 ? h('section', { 'aria-labelledby': 'cmp-h' },
      h('h2', { id: 'cmp-h' }, 'Compare two versions'),
      compareForm(ctx, base, versions, previous.versionUid, latest.versionUid)) : null);
}

/** `/ui/ehr/{ehr}/plan/{id}/version?v=…`: one version, read-only. */
export async function versionView(ctx, ehrId, id) {
  const { crumb, meta, versions, base } = await load(ehrId, id);
  const wanted = ctx.params.get('v') || meta.versionUid;
  const [{ flat, versionUid }, wt] = await Promise.all([
    compositionFlat(ehrId, wanted), labelsOf(meta.templateId),
  ]);
  if (!ctx.current()) return;
  const n = versionNumber(versionUid);
  ctx.setCrumbs([crumb, [meta.name, base], ['History', `${base}/history`], [`Version ${n}`]]);
  ctx.setTitle(`Version ${n}: ${meta.name}`);
  const index = indexWebTemplate(wt, document.documentElement.lang);
  const pos = versions.findIndex((v) => v.versionUid === versionUid);
  const link = (v, text) => h('a', { href: `${base}/version?${new URLSearchParams({ v: v.versionUid })}` }, text);
  const holder = h('div', { class: 'readonly' }, sectionList(bySection(flatRows(index, flat))));
  const asForm = h('button', {
    type: 'button',
    onclick: async () => {
      asForm.disabled = true;
      const form = await makeForm({
        'template-id': meta.templateId, 'ehr-id': ehrId, 'composition-id': versionUid, readonly: true,
      });
      replace(holder, form);
    },
  }, 'Show in the form');
  replace(ctx.view,
    h('h1', {}, `${meta.name}, version ${n}`),
    versionFacts(versionUid, versions, flat),
    pos >= 0 && pos < versions.length - 1
      ? message('warn', h('p', {}, `This is not the latest version. `, link(versions[versions.length - 1], 'See the latest'))) : null,
    h('p', { class: 'view-links no-print' },
      pos > 0 ? link(versions[pos - 1], `Previous: version ${versions[pos - 1].number}`) : null, ' ',
      pos >= 0 && pos < versions.length - 1 ? link(versions[pos + 1], `Next: version ${versions[pos + 1].number}`) : null, ' ',
      h('a', { href: `${base}/summary?${new URLSearchParams({ v: versionUid })}` }, 'Summary of this version'), ' ',
      asForm),
    holder);
}

/** `/ui/ehr/{ehr}/plan/{id}/compare?a=…&b=…`. */
export async function compareView(ctx, ehrId, id) {
  const { crumb, meta, versions, base } = await load(ehrId, id);
  const latest = versions[versions.length - 1];
  const a = ctx.params.get('a') || (versions[versions.length - 2] || latest).versionUid;
  const b = ctx.params.get('b') || latest.versionUid;
  const [va, vb, wt] = await Promise.all([
    compositionFlat(ehrId, a), compositionFlat(ehrId, b), labelsOf(meta.templateId),
  ]);
  if (!ctx.current()) return;
  const na = versionNumber(va.versionUid);
  const nb = versionNumber(vb.versionUid);
  ctx.setCrumbs([crumb, [meta.name, base], ['History', `${base}/history`], [`Version ${na} and ${nb}`]]);
  ctx.setTitle(`Versions ${na} and ${nb}: ${meta.name}`);
  const index = indexWebTemplate(wt, document.documentElement.lang);
  const rows = diff(index, va.flat, vb.flat);
  const who = (vuid) => versions.find((v) => v.versionUid === vuid) || {};
  const count = (k) => rows.filter((r) => r.kind === k).length;
  replace(ctx.view,
    h('h1', {}, `${meta.name}: version ${na} and version ${nb}`),
    h('ul', { class: 'versions-compared' },
      [va.versionUid, vb.versionUid].map((vu) => h('li', {}, `Version ${versionNumber(vu)}: saved by ${who(vu).committer || '—'}, `, timeEl(who(vu).committed)))),
    h('p', { class: 'counts', role: 'status' },
      `${count('changed')} changed, ${count('added')} added, ${count('removed')} removed.`),
    diffTable(rows, `Version ${na}`, `Version ${nb}`, `Fields that differ between version ${na} and version ${nb}`),
    versions.length > 1 ? h('section', { class: 'no-print', 'aria-labelledby': 'cmp-h' },
      h('h2', { id: 'cmp-h' }, 'Compare other versions'),
      compareForm(ctx, base, versions, va.versionUid, vb.versionUid)) : null);
}

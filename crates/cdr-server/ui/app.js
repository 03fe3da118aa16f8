// The clinician's app: one page whose places are paths under /ui/ (history.pushState), each
// drawn by a view of the app-*.js modules from the openEHR REST API.
//
//   /ui/                                     find a person
//   /ui/ehr?subject_id=…&subject_namespace=…  open a person by identifier (a deep link)
//   /ui/ehr/{ehr}                            their care plans; start a new one
//   /ui/ehr/{ehr}/new?template=…             a new plan in its form
//   /ui/ehr/{ehr}/plan/{id}                  a plan in its form, to update it
//   /ui/ehr/{ehr}/plan/{id}/history          its versions: who and when
//   /ui/ehr/{ehr}/plan/{id}/version?v=…      one version, read-only
//   /ui/ehr/{ehr}/plan/{id}/compare?a=…&b=…  two versions field by field
//   /ui/ehr/{ehr}/plan/{id}/summary[?v=…]    the urgent summary, for reading and printing

import { h, replace, message } from '/ui/app-dom.js';
import { currentUser, signOut } from '/ui/app-auth.js';
import { forgetCaller } from '/ui/app-api.js';
import { findView, subjectView, personView } from '/ui/app-person.js';
import { planView, newPlanView } from '/ui/app-plan.js';
import { historyView, versionView, compareView } from '/ui/app-history.js';
import { summaryView } from '/ui/app-summary.js';

const ID = '([0-9A-Za-z_-]+)';
const ROUTES = [
  [/^\/ui(\/index\.html)?\/?$/, findView],
  [/^\/ui\/ehr\/?$/, subjectView],
  [new RegExp(`^/ui/ehr/${ID}/?$`), personView],
  [new RegExp(`^/ui/ehr/${ID}/new/?$`), newPlanView],
  [new RegExp(`^/ui/ehr/${ID}/plan/${ID}/?$`), planView],
  [new RegExp(`^/ui/ehr/${ID}/plan/${ID}/history/?$`), historyView],
  [new RegExp(`^/ui/ehr/${ID}/plan/${ID}/version/?$`), versionView],
  [new RegExp(`^/ui/ehr/${ID}/plan/${ID}/compare/?$`), compareView],
  [new RegExp(`^/ui/ehr/${ID}/plan/${ID}/summary/?$`), summaryView],
];

const main = document.getElementById('main');
const crumbsEl = document.getElementById('crumbs');
let flash = null;
let renderSeq = 0;
// Whether the current place holds edits not saved (set by a view; cleared on each place).
let unsaved = () => false;
const LEAVE = 'Leave this page? Your changes are not saved.';

/** Goes to a place of the app (`replace`: instead of the current history entry). */
export function navigate(url, { replace: replaceEntry = false, note = null, force = false } = {}) {
  if (!force && unsaved() && !window.confirm(LEAVE)) return;
  unsaved = () => false;
  flash = note;
  if (replaceEntry) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render(true);
}

function setCrumbs(items) {
  const list = h('ol');
  items.forEach(([label, href], i) => {
    const last = i === items.length - 1;
    list.append(h('li', {}, last || !href
      ? h('span', { 'aria-current': last ? 'page' : false }, label)
      : h('a', { href }, label)));
  });
  replace(crumbsEl, list);
}

function drawWho() {
  const who = document.getElementById('who');
  const user = currentUser();
  if (!user) {
    replace(who);
    return;
  }
  replace(who, h('span', {}, 'Signed in as ', h('strong', {}, user)), ' ',
    h('button', {
      type: 'button',
      class: 'link',
      onclick: () => {
        signOut();
        forgetCaller();
        navigate('/ui/', { note: message('info', 'You have signed out.') });
      },
    }, 'Sign out'));
}

function errorBox(err, retry) {
  const status = err && err.status;
  let text = err && err.message ? err.message : String(err);
  if (status === 403) text = `You may not see this. ${text}`;
  else if (status === 404) text = `Not found: ${text}`;
  return message('error', h('p', {}, text),
    status === 403 || status === 404 ? null
      : h('button', { type: 'button', onclick: retry }, 'Try again'));
}

async function render(moveFocus) {
  shown = location.pathname + location.search;
  renderSeq += 1;
  const seq = renderSeq;
  const view = h('div', { class: 'view' });
  const note = flash;
  flash = null;
  replace(main, note, view);
  view.append(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  const path = location.pathname.replace(/\/{2,}/g, '/');
  const route = ROUTES.find(([re]) => re.test(path));
  const ctx = {
    view,
    params: new URLSearchParams(location.search),
    navigate,
    setCrumbs: (items) => {
      if (seq === renderSeq) setCrumbs([['Find a person', '/ui/'], ...items]);
    },
    setTitle: (title) => {
      if (seq === renderSeq) document.title = `${title} · Care plans`;
    },
    current: () => seq === renderSeq,
    // `check()` says whether the place holds unsaved edits (asked before leaving it).
    guard: (check) => {
      if (seq === renderSeq) unsaved = check;
    },
  };
  unsaved = () => false;
  try {
    if (!route) {
      ctx.setCrumbs([]);
      replace(view, h('h1', { tabindex: '-1' }, 'Page not found'),
        h('p', {}, h('a', { href: '/ui/' }, 'Find a person')));
    } else {
      const args = route[0].exec(path).slice(1).map(decodeURIComponent);
      await route[1](ctx, ...args);
    }
  } catch (err) {
    if (seq !== renderSeq) return;
    view.querySelector('.loading')?.remove();
    view.append(errorBox(err, () => render(true)));
  }
  if (seq !== renderSeq) return;
  view.querySelector(':scope > .loading')?.remove();
  drawWho();
  if (moveFocus) {
    const heading = view.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }
}

// Links inside the app change the place without loading the page again.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey
    || ev.altKey || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !/^\/ui(\/|$)/.test(url.pathname)) return;
  if (/\.[a-z0-9]+$/i.test(url.pathname)) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

// The place shown, to go back to when the user stays on a page with unsaved edits.
let shown = location.pathname + location.search;
window.addEventListener('popstate', () => {
  if (unsaved() && !window.confirm(LEAVE)) {
    history.pushState(null, '', shown);
    return;
  }
  unsaved = () => false;
  render(true);
});
window.addEventListener('beforeunload', (ev) => {
  if (unsaved()) {
    ev.preventDefault();
    ev.returnValue = LEAVE;
  }
});
window.addEventListener('cdr-signed-in', () => {
  forgetCaller();
  drawWho();
});

render(false);

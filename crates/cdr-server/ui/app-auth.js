// Who the app calls the API as: the one place that makes authentication headers.
//
// Today the app signs in with HTTP Basic: when the API answers 401 with a `Basic` challenge,
// `signIn` asks for a user name and password in a dialog and keeps them for the browser tab
// (sessionStorage). Another scheme (an OpenID Connect bearer token got with authorization code
// + PKCE) would add a kind of credential here: `authHeaders` gives every request its header,
// `signIn` answers a challenge of that scheme, and nothing else in the app changes.

import { h, uid } from '/ui/app-dom.js';

const KEY = 'cdr.credentials';

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

/** The headers that authenticate a request (none when the user has not signed in). */
export function authHeaders() {
  const c = load();
  if (c && c.scheme === 'basic' && c.token) return { Authorization: `Basic ${c.token}` };
  return {};
}

/** The signed-in user's name, or null. */
export function currentUser() {
  const c = load();
  return c ? c.user : null;
}

/** Forgets the credentials. */
export function signOut() {
  sessionStorage.removeItem(KEY);
}

function basicToken(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The scheme a `WWW-Authenticate` header asks for, lower case (`basic`, `bearer`, …). */
export function challengeScheme(header) {
  const m = /^\s*([A-Za-z][\w-]*)/.exec(header || '');
  return m ? m[1].toLowerCase() : '';
}

let pending = null;

/**
 * Answers a 401: for a Basic challenge, asks for a user name and password (one dialog however
 * many requests were refused at once). Resolves true when the user gave credentials (the
 * caller retries), false when they cancelled or the scheme is one the app cannot answer.
 * `problem` is the server's reason (e.g. "wrong user name or password").
 */
export function signIn(scheme, problem) {
  if (scheme !== 'basic') return Promise.resolve(false);
  if (!pending) {
    pending = askBasic(problem).finally(() => {
      pending = null;
    });
  }
  return pending;
}

function askBasic(problem) {
  return new Promise((resolve) => {
    const userId = uid('login-user');
    const pwId = uid('login-password');
    const titleId = uid('login-title');
    const errorBox = h('p', { class: 'msg msg-error', role: 'alert', hidden: !problem },
      problem ? `The server refused: ${problem}` : '');
    const userInput = h('input', {
      id: userId, name: 'username', autocomplete: 'username', required: true,
      value: currentUser() || '', autocapitalize: 'none', spellcheck: 'false',
    });
    const pwInput = h('input', {
      id: pwId, name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    });
    const dialog = h('dialog', { class: 'login', 'aria-labelledby': titleId });
    const finish = (ok) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    const form = h('form', {
      method: 'dialog',
      onsubmit: (ev) => {
        ev.preventDefault();
        const user = userInput.value.trim();
        if (!user || !pwInput.value) return;
        sessionStorage.setItem(KEY, JSON.stringify({
          scheme: 'basic', user, token: basicToken(user, pwInput.value),
        }));
        finish(true);
        window.dispatchEvent(new Event('cdr-signed-in'));
      },
    },
    h('h2', { id: titleId }, 'Sign in'),
    h('p', {}, 'The record server asks who you are. Your name and password are kept only in this browser tab until you sign out or close it.'),
    errorBox,
    h('div', { class: 'field' }, h('label', { for: userId }, 'User name'), userInput),
    h('div', { class: 'field' }, h('label', { for: pwId }, 'Password'), pwInput),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      h('button', { type: 'button', onclick: () => finish(false) }, 'Cancel')));
    dialog.append(form);
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    (userInput.value ? pwInput : userInput).focus();
  });
}

// @ts-check
// The admin's page of people: who may use Loupe and with which role; add, set a password, remove.
import { $, el, when } from './dom.js';
import { call as managerCall, notice } from './manager-api.js';

/** @typedef {import('./state.js').Me} Me */
/** @typedef {{ name: string, role: string, createdAt: string }} Person */

/** @type {{ me: Me }} */
const state = { me: { name: '', role: 'admin', csrf: '' } };

async function start() {
  const response = await fetch('/api/session');
  if (response.status === 401) return location.assign(`/login?next=${encodeURIComponent('/people')}`);
  state.me = await response.json();
  $('who').textContent = `${state.me.name} · ${state.me.role}`;
  await load();
}

/** A call to the people API; null (and a message) when refused or unreachable. @param {string} url @param {string} method @param {unknown} [body] */
const call = (url, method, body) => managerCall(url, state.me.csrf, { method, body });

async function load() {
  /** @type {Person[] | null} */
  const people = await call('/api/people', 'GET');
  if (!people) return;
  $('total').textContent = String(people.length);
  $('people', HTMLTableElement).tBodies[0].replaceChildren(
    ...people.map((p) => {
      const password = el('input', {
        type: 'password',
        minLength: 10,
        placeholder: 'new password',
        autocomplete: 'new-password',
      });
      const set = el(
        'button',
        {
          className: 'small',
          onclick: async () => {
            if (password.value.length < 10) return notice('A password needs at least 10 characters.', 'warn');
            if (
              await call(`/api/people/${encodeURIComponent(p.name)}/password`, 'POST', { password: password.value })
            ) {
              password.value = '';
              notice(`Password of ${p.name} set; their sessions are ended.`, 'ok');
            }
          },
        },
        'set password',
      );
      const remove = el(
        'button',
        {
          className: 'small reject',
          disabled: p.name === state.me.name,
          title: p.name === state.me.name ? 'you cannot remove yourself' : '',
          onclick: async () => {
            if (!confirm(`Remove ${p.name}? Their sessions end at once.`)) return;
            if (await call(`/api/people/${encodeURIComponent(p.name)}`, 'DELETE')) {
              notice(`${p.name} removed.`, 'ok');
              load();
            }
          },
        },
        'remove',
      );
      return el(
        'tr',
        { dataset: { person: p.name } },
        el('td', {}, el('strong', {}, p.name)),
        el('td', {}, p.role),
        el('td', {}, when(p.createdAt)),
        el('td', {}, password, ' ', set),
        el('td', {}, remove),
      );
    }),
  );
}

$('add').onsubmit = async (event) => {
  event.preventDefault();
  const form = $('add', HTMLFormElement);
  const data = new FormData(form);
  const added = await call('/api/people', 'POST', {
    name: data.get('name'),
    role: data.get('role'),
    password: data.get('password'),
  });
  if (!added) return;
  notice(`${added.name} added as ${added.role}.`, 'ok');
  form.reset();
  load();
};
$('logout').onclick = async () => {
  await call('/api/logout', 'POST');
  location.assign('/login?out=1');
};

start();

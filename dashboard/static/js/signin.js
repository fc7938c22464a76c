// Sign-in with an organization API key. The key is kept in this tab's
// sessionStorage only, and sent as a bearer token.
import { h, mount } from './dom.js';

// signIn shows the form, saying message; typed is what the user typed before a
// refused try, kept so they can correct it.
export function signIn(main, message, submit, typed = '') {
  const input = h('input', {
    type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'emp_…', 'aria-describedby': 'api-key-hint', value: typed,
  });
  const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', {
    class: 'card', novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) {
        error.textContent = 'Enter your API key.';
        error.hidden = false;
        input.focus();
        return;
      }
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        await submit(key);
      } catch (e) {
        if (e.status !== 401) {
          error.textContent = e.message;
          error.hidden = false;
        }
      } finally {
        button.disabled = false;
        button.textContent = 'Sign in';
      }
    },
  },
  h('h1', {}, 'Sign in to Empfio Webhooks'),
  message ? h('div', { class: 'notice' + (/not valid|expired/.test(message) ? ' notice-bad' : ''), role: 'status' }, message) : null,
  h('div', { class: 'field' },
    h('label', { for: 'api-key' }, 'Organization API key'),
    input,
    h('p', { class: 'hint', id: 'api-key-hint' },
      'Your key starts with emp_. It stays in this browser tab and is forgotten when you sign out or close the tab.'),
    error),
  button);
  mount(main, h('div', { class: 'signin' }, form));
  input.focus();
  if (typed) input.select();
}

// linkExpired tells the viewer of a dashboard link that it no longer works,
// and whom to ask, instead of a form for a key they do not have.
export function linkExpired(main, signInInstead) {
  mount(main, h('div', { class: 'signin' }, h('div', { class: 'card', id: 'link-expired' },
    h('h1', {}, 'This dashboard link has expired'),
    h('p', {}, 'Dashboard links work for a limited time. Open the webhooks page again from the product that sent you here, ',
      'or ask the person who manages your organization’s Empfio account for a new link.'),
    h('p', { class: 'small muted' }, 'Have an organization API key? ',
      h('button', { type: 'button', class: 'link', id: 'sign-in-instead', onclick: signInInstead }, 'Sign in with it')))));
}

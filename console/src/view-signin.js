/** The sign-in form and the site picker: the two screens before the inbox. */
import { h, clear, setText } from './dom.js';

export function renderSignIn(root, { onSubmit, email = '' }) {
  clear(root);
  const emailInput = h('input', { id: 'signin-email', type: 'email', name: 'email', autocomplete: 'username', required: true, 'data-testid': 'signin-email', value: email });
  const password = h('input', { id: 'signin-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'signin-password' });
  const error = h('p', { class: 'signin__error', role: 'alert', 'data-testid': 'signin-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block', 'data-testid': 'signin-submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin__form', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('div', { class: 'brand brand--large' }, h('span', { class: 'brand__mark', 'aria-hidden': 'true' }, 'P'), 'Parley'),
    h('h1', { id: 'signin-title', class: 'signin__title', text: 'Sign in to your inbox' }),
    h('label', { for: 'signin-email', text: 'Email' }),
    emailInput,
    h('label', { for: 'signin-password', text: 'Password' }),
    password,
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    setText(submit, 'Signing in…');
    try {
      await onSubmit(emailInput.value.trim(), password.value);
    } catch (err) {
      setText(error, (err && err.message) || 'Sign-in failed. Try again.');
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
      setText(submit, 'Sign in');
    }
  });
  root.append(h('main', { class: 'signin' }, form));
  (email ? password : emailInput).focus();
}

export function renderSitePicker(root, { sites, onPick, onSignOut, notice = null }) {
  clear(root);
  const list = h('ul', { class: 'sites' });
  for (const s of sites) {
    list.append(
      h('li', {}, h('button', { type: 'button', class: 'site', 'data-testid': 'site-option', 'data-site-key': s.site_key, onclick: () => onPick(s.site_key) },
        h('span', { class: 'site__name', text: s.name || s.site_key }),
        h('span', { class: 'muted', text: `${s.site_key} · ${s.role}` }))),
    );
  }
  root.append(
    h('main', { class: 'signin' }, h('div', { class: 'signin__form', 'data-testid': 'site-picker' },
      h('h1', { class: 'signin__title', text: 'Choose a site' }),
      notice ? h('p', { class: 'muted', role: 'status', 'data-testid': 'site-picker-notice', text: notice }) : null,
      list,
      h('button', { type: 'button', class: 'btn btn--quiet', 'data-testid': 'signout', onclick: onSignOut }, 'Sign out'))),
  );
  const first = list.querySelector('button');
  if (first) first.focus();
}

export function renderMessage(root, { title, text, onSignOut, onRetry }) {
  clear(root);
  root.append(
    h('main', { class: 'signin' }, h('div', { class: 'signin__form', 'data-testid': 'console-message' },
      h('h1', { class: 'signin__title', text: title }),
      h('p', { class: 'muted', text }),
      onRetry ? h('button', { type: 'button', class: 'btn btn--primary btn--block', onclick: onRetry }, 'Try again') : null,
      onSignOut ? h('button', { type: 'button', class: 'btn btn--quiet', 'data-testid': 'signout', onclick: onSignOut }, 'Sign out') : null)),
  );
}

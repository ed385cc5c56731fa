/**
 * "Leave your email": the inline card after the messages when a person was
 * asked for and nobody is online. Email (checked with the backend's rule
 * before it goes; a 400 `invalid_email` is shown the same way), the name
 * when the site asks for names, the transcript opt-in when the site offers
 * transcripts. Once saved it is one line, "Thanks — we'll reply to <email>
 * within N hours", with an "edit" that brings the form back, filled in.
 * Focus: the email field when the visitor's own request showed the form,
 * and on edit; the confirmation after a save. Text goes in as text only.
 */
import { h } from './dom.js';
import { EMAIL, NAME, textField } from './fields.js';
import { validEmail } from '../contact.js';

export function createContactForm({ t, onSubmit }) {
  const lead = h('p', { class: 'lead' });
  const email = textField('pw-c-email', 'contact-email', { ...EMAIL, required: true });
  email.label.textContent = t('email');
  const name = textField('pw-c-name', 'contact-name', NAME);
  name.label.textContent = t('optional', { label: t('name') });
  const box = h('input', { type: 'checkbox', id: 'pw-c-tr', 'data-part': 'contact-transcript' });
  const optIn = h('div', { class: 'check' }, [box, h('label', { for: 'pw-c-tr', text: t('wantTranscript') })]);
  const note = h('span', { class: 'fail', role: 'alert', 'data-part': 'contact-error' });
  const submit = h('button', { type: 'submit', class: 'handoff', 'data-part': 'contact-submit' }, t('save'));
  const form = h('form', { 'data-part': 'contact-form', novalidate: true, 'aria-label': t('email') },
    [lead, email.el, name.el, optIn, h('div', { class: 'ask' }, [submit, note])]);
  const doneText = h('span', { 'data-part': 'contact-done' });
  const edit = h('button', { type: 'button', class: 'link', 'data-part': 'contact-edit', onclick: () => show('form', true) },
    t('edit'));
  const done = h('p', { tabindex: '-1' }, [doneText, ' ', edit]);
  const el = h('div', { class: 'card', 'data-part': 'contact', hidden: true }, [form, done]);

  let mode = null; // null until first shown, then 'form' or 'done'
  let saved = null; // the contact shown and filled in
  let opts = {};
  let busy = false;

  function show(next, focus) {
    mode = next;
    el.dataset.state = next;
    form.hidden = next !== 'form';
    done.hidden = next !== 'done';
    if (next === 'form') {
      email.input.value = (saved && saved.email) || '';
      name.input.value = (saved && saved.name) || '';
      box.checked = !!(saved && saved.transcript);
      email.error('');
      note.textContent = '';
      if (focus) email.input.focus();
    } else {
      doneText.textContent = t('thanks', { email: saved.email, within: opts.within });
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    note.textContent = '';
    const value = email.value;
    const bad = !validEmail(value) && t('badEmail');
    email.error(bad);
    if (bad) {
      email.input.focus();
      return;
    }
    const body = { email: value };
    if (opts.name) body.name = name.value || null;
    if (opts.transcript) body.transcript = !!box.checked;
    busy = submit.disabled = true;
    try {
      saved = await onSubmit(body);
      show('done');
      done.focus();
    } catch (err) {
      if (err && err.code === 'invalid_email') {
        email.error(t('badEmail'));
        email.input.focus();
      } else note.textContent = t('notDone');
    }
    busy = submit.disabled = false;
  });

  return {
    el,
    /**
     * null hides it; else `{contact, name, transcript, lead, within, focus}`:
     * the contact known (with an email: the confirmation, not the form), which
     * fields to offer, the availability lead and "within N hours".
     */
    update(o) {
      el.hidden = !o;
      if (!o) return;
      opts = o;
      lead.textContent = o.lead;
      name.el.hidden = !o.name;
      optIn.hidden = !o.transcript;
      if (!mode || (mode === 'done' && o.contact !== saved)) {
        saved = o.contact || saved;
        show(saved && saved.email ? 'done' : 'form', o.focus);
      } else if (mode === 'done') show('done');
      else if (o.focus) email.input.focus();
    },
    /** A new conversation: nothing known, the form again next time. */
    reset() {
      mode = saved = null;
      el.hidden = true;
    },
  };
}

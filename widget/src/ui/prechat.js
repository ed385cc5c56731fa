/**
 * Pre-chat fields above the composer (config's `prechat`: name and email,
 * each "off", "optional" or "required"), until the visitor's first message.
 * `check()` gives the values when they may go, else shows what is missing or
 * wrong on the field and focuses it (null). The email follows the backend's rule.
 */
import { h } from './dom.js';
import { EMAIL, NAME, textField } from './fields.js';
import { validEmail } from '../contact.js';

const asked = (v) => v === 'optional' || v === 'required';

export function createPrechat({ t }) {
  const fields = {
    name: textField('pw-p-name', 'prechat-name', NAME),
    email: textField('pw-p-email', 'prechat-email', EMAIL),
  };
  const el = h('div', { class: 'pre', 'data-part': 'prechat', hidden: true }, [fields.name.el, fields.email.el]);
  let need = null;
  const shown = () => Object.keys(fields).filter((k) => need && asked(need[k]));

  return {
    el,
    get active() {
      return !!need;
    },
    /** config's `prechat`, or null when done (or there is nothing to ask). */
    set(prechat) {
      need = prechat && (asked(prechat.name) || asked(prechat.email)) ? prechat : null;
      el.hidden = !need;
      for (const k of Object.keys(fields)) {
        const f = fields[k];
        f.el.hidden = !shown().includes(k);
        f.label.textContent = need && need[k] === 'required' ? t(k) : t('optional', { label: t(k) });
        f.input.required = need && need[k] === 'required';
      }
    },
    check() {
      const values = {};
      let wrong = null;
      for (const k of shown()) {
        const f = fields[k];
        const v = f.value;
        const problem = v ? k === 'email' && !validEmail(v) && t('badEmail') : need[k] === 'required' && t('needed');
        f.error(problem);
        if (problem) wrong = wrong || f;
        else if (v) values[k] = v;
      }
      if (wrong) wrong.input.focus();
      return wrong ? null : values;
    },
    focus() {
      fields[shown()[0]].input.focus({ preventScroll: true });
    },
  };
}

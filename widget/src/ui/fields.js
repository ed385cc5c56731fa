/**
 * A labelled text input with its own error line (role="alert", tied to the
 * input by aria-describedby and marked by aria-invalid), for the email form
 * and the pre-chat fields. `data-part` is `part` on the input and
 * `<part>-error` on the error line.
 */
import { h } from './dom.js';

export function textField(id, part, attrs) {
  const label = h('label', { for: id });
  const input = h('input', { id, class: 'tf', 'data-part': part, 'aria-describedby': `${id}-e`, ...attrs });
  const note = h('span', { class: 'fail', id: `${id}-e`, role: 'alert', 'data-part': `${part}-error` });
  return {
    el: h('div', { class: 'row' }, [label, input, note]),
    input,
    label,
    get value() {
      return input.value.trim();
    },
    /** Shows `message` (falsy: clears it). */
    error(message) {
      note.textContent = message || '';
      if (message) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
  };
}

export const EMAIL = { type: 'email', autocomplete: 'email', inputmode: 'email', maxlength: '254', spellcheck: 'false' };
export const NAME = { autocomplete: 'name', maxlength: '100' };

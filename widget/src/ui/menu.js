/**
 * The header's "more" menu: download the transcript, delete the
 * conversation (after a confirmation in place). Both need a conversation, so
 * the button shows only once there is one. A failure says so (role="alert")
 * and changes nothing; Escape or a second press on the button closes it.
 */
import { h, icon, ICONS } from './dom.js';

export function createMenu({ t, onTranscript, onDelete }) {
  const note = h('p', { class: 'fail', 'data-part': 'menu-error', role: 'alert' });
  const item = (part, label, onclick) => h('button', { type: 'button', role: 'menuitem', 'data-part': part, onclick }, label);
  const items = h('div', {}, [
    item('transcript', t('transcript'), () => run(onTranscript)),
    item('delete', t('delete'), () => confirming(true)),
  ]);
  const confirm = h('div', { hidden: true }, [
    h('p', { text: t('confirmDelete') }),
    item('delete-confirm', t('deleteYes'), () => run(onDelete)),
    item('delete-cancel', t('cancel'), () => confirming(false)),
  ]);
  const list = h('div', { class: 'menu', role: 'menu', 'data-part': 'menu', hidden: true,
    onkeydown: (e) => e.key === 'Escape' && (e.stopPropagation(), show(false)) }, [items, confirm, note]);
  const button = h('button', {
    type: 'button', class: 'close', 'data-part': 'menu-button', 'aria-label': t('menu'),
    'aria-haspopup': 'menu', 'aria-expanded': 'false', hidden: true, onclick: () => show(list.hidden),
  }, icon(ICONS.more));

  function confirming(yes) {
    items.hidden = yes;
    confirm.hidden = !yes;
    (yes ? confirm : items).querySelector('button').focus();
  }

  function show(open) {
    list.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    note.textContent = '';
    if (open) confirming(false);
  }

  async function run(action) {
    note.textContent = '';
    try {
      await action();
      show(false);
      button.focus();
    } catch {
      note.textContent = t('notDone');
    }
  }

  return {
    button,
    list,
    /** Shown only while there is a conversation to download or delete. */
    setAvailable(yes) {
      button.hidden = !yes;
      if (!yes) show(false);
    },
  };
}

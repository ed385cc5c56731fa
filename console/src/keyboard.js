/**
 * Console-wide keys. Letters act only outside text fields; Esc works
 * everywhere (it closes what floats, else leaves the conversation for the
 * inbox). Tabs and rows handle their own arrows (view-inbox.js).
 */
export function installKeyboard(target, { closeOverlays, back, showShortcuts, selectTab, move, reply, inTablist }) {
  function onKey(e) {
    if (e.defaultPrevented) return;
    const el = e.target instanceof Element ? e.target : null;
    const editing = !!(el && el.closest('input, textarea, select, [contenteditable]'));
    if (e.key === 'Escape') {
      if (closeOverlays()) return e.preventDefault();
      if (editing) el.blur();
      back();
      e.preventDefault();
      return;
    }
    if (editing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (el && inTablist(el) && e.key.startsWith('Arrow')) return;
    const handled = {
      '?': showShortcuts,
      1: () => selectTab(0),
      2: () => selectTab(1),
      3: () => selectTab(2),
      4: () => selectTab(3),
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      r: reply,
    }[e.key];
    if (handled) {
      e.preventDefault();
      handled();
    }
  }
  target.addEventListener('keydown', onKey);
  return () => target.removeEventListener('keydown', onKey);
}

/**
 * The agent's notification preferences, kept in localStorage (they outlive
 * the session, unlike the sign-in). Unknown or broken stored values fall
 * back to the defaults: both on.
 */
export const PREFS_KEY = 'parley.console.prefs';
export const DEFAULTS = Object.freeze({ notifications: true, sound: true });

export function createPrefs(storage = globalThis.localStorage) {
  let values = { ...DEFAULTS };
  try {
    const stored = JSON.parse(storage.getItem(PREFS_KEY) || '{}');
    for (const k of Object.keys(DEFAULTS)) if (typeof stored[k] === 'boolean') values[k] = stored[k];
  } catch {
    // unreadable: defaults
  }
  const listeners = new Set();
  return {
    get: (key) => values[key],
    all: () => ({ ...values }),
    set(key, value) {
      if (!(key in DEFAULTS)) throw new Error(`prefs: unknown preference ${key}`);
      values = { ...values, [key]: !!value };
      try {
        storage.setItem(PREFS_KEY, JSON.stringify(values));
      } catch {
        // storage full or blocked: it holds for this page
      }
      for (const fn of [...listeners]) fn(values);
    },
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

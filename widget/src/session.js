/**
 * The visitor's conversation: its id and token, kept in localStorage under a
 * key namespaced by site, so a reload (or another tab) resumes it. A token
 * the server refuses (expired, or from another deployment) starts a fresh
 * conversation instead of locking the visitor out.
 */
const PREFIX = 'parley:';

function safeStorage(storage) {
  // Storage can be missing or throw (Safari private mode, sandboxed iframes,
  // cookies blocked); the widget then works for this page view only.
  const memory = new Map();
  return {
    get(key) {
      try {
        return storage.getItem(key);
      } catch {
        return memory.get(key) ?? null;
      }
    },
    set(key, value) {
      try {
        storage.setItem(key, value);
      } catch {
        memory.set(key, value);
      }
    },
    remove(key) {
      memory.delete(key);
      try {
        storage.removeItem(key);
      } catch {
        // nothing kept there
      }
    },
  };
}

function loadFrom(store, key) {
  try {
    const saved = JSON.parse(store.get(key) || 'null');
    return saved && saved.conversation_id && saved.token ? saved : null;
  } catch {
    return null;
  }
}

/** Whether this browser holds a conversation of the site (the loader then fetches the chat at once). */
export function hasSavedConversation(siteKey, storage = globalThis.localStorage) {
  return loadFrom(safeStorage(storage), PREFIX + siteKey) !== null;
}

export function createSession({ siteKey, api, locale, storage = globalThis.localStorage }) {
  const store = safeStorage(storage);
  const key = PREFIX + siteKey;
  let current = null;

  const load = () => loadFrom(store, key);

  function save(data) {
    current = { ...(current || {}), ...data };
    store.set(key, JSON.stringify(current));
  }

  return {
    /** Resumes the saved conversation, or starts one; resolves to init's answer. */
    async start() {
      const saved = load();
      if (saved) {
        current = saved;
        try {
          const res = await api.init({ conversation_id: saved.conversation_id, token: saved.token, locale });
          save({ conversation_id: res.conversation_id, token: res.token });
          return res;
        } catch (err) {
          // 401 (bad or expired token) or 403 (another site's, another conversation's):
          // that conversation is out of reach; anything else is worth retrying.
          if (!(err && (err.status === 401 || err.status === 403))) throw err;
          this.clear();
        }
      }
      // The page is a fact for the agent who may answer (shown as text, never followed).
      const body = { locale };
      if (globalThis.location) body.page = String(location.href).slice(0, 2000);
      const res = await api.init(body);
      current = null;
      save({ conversation_id: res.conversation_id, token: res.token, read: 0 });
      return res;
    },
    clear() {
      current = null;
      store.remove(key);
    },
    /** Whether a conversation is saved here (to resume) or already going. */
    get saved() {
      return current !== null || load() !== null;
    },
    /**
     * After a 401 `token_revoked`: another tab of this visitor resumed the
     * conversation, which revoked this tab's token, and saved the new one.
     * Takes it; true when there was a newer token for this conversation.
     */
    adoptSaved() {
      const saved = load();
      if (!saved || !current || saved.conversation_id !== current.conversation_id || saved.token === current.token) return false;
      current = { ...current, token: saved.token };
      return true;
    },
    get conversationId() {
      return current && current.conversation_id;
    },
    get token() {
      return current && current.token;
    },
    /** The highest seq the visitor has seen with the panel open (for the unread badge). */
    get read() {
      return (current && current.read) || 0;
    },
    set read(seq) {
      if (current && seq > (current.read || 0)) save({ read: seq });
    },
  };
}

/**
 * Telling the agent a visitor asked for a person: a desktop notification and
 * a short beep (WebAudio: no sound file to fetch), each unless turned off.
 * `handoffOf` decides what counts; `createNotifier` says it once per handoff
 * (the feed and the conversation channel both carry the same message).
 */

/**
 * The handoff an event announces, `{conversationId, key}`, or null. The key
 * is the conversation: one announcement per wait for a person, however it is
 * seen (feed message, ConversationCreated, an inbox reload after a
 * reconnect); `forget(key)` once the conversation leaves `pending`.
 */
export function handoffOf(kind, data) {
  if (kind === 'message') {
    const e = data && data.event;
    if (data && data.sender === 'system' && e && e.status === 'pending' && e.previous !== 'pending') {
      return { conversationId: data.conversation_id, key: data.conversation_id };
    }
  } else if (kind === 'created') {
    const c = data && (data.conversation || data);
    if (c && c.status === 'pending') return { conversationId: c.conversation_id, key: c.conversation_id };
  } else if (kind === 'summary') {
    if (data && data.status === 'pending') return { conversationId: data.conversation_id, key: data.conversation_id };
  }
  return null;
}

export function createNotifier({ prefs, notify = desktopNotification, beep = playBeep, remember = 500 }) {
  const seen = [];
  return {
    /** Returns true if this handoff was announced now (false: a repeat, or nothing to announce). */
    handoff(h, { title = 'A visitor is waiting for a person', body = '' } = {}) {
      if (!h || seen.includes(h.key)) return false;
      seen.push(h.key);
      if (seen.length > remember) seen.shift();
      if (prefs.get('notifications')) notify(title, body, h.conversationId);
      if (prefs.get('sound')) beep();
      return true;
    },
    forget(key) {
      const i = seen.indexOf(key);
      if (i >= 0) seen.splice(i, 1);
    },
  };
}

/** Asks for permission: call it from a click, browsers ignore it otherwise. */
export function requestPermission() {
  if (typeof Notification === 'undefined') return Promise.resolve('unsupported');
  if (Notification.permission !== 'default') return Promise.resolve(Notification.permission);
  return Notification.requestPermission();
}

export function desktopNotification(title, body, tag) {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    // some browsers allow notifications from a service worker only
  }
}

let audio = null;

/** Two short sine tones, quiet. */
export function playBeep() {
  try {
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    const t = audio.currentTime;
    [880, 1320].forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.15, t + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.12 + 0.11);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.12);
      osc.stop(t + i * 0.12 + 0.12);
    });
  } catch {
    // no audio: the notification and the badge still tell
  }
}

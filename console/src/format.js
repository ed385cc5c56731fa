/** Wording and time formats the views share. Pure: tested in node. */

const str = (v) => (typeof v === 'string' ? v.trim() : '');

/** The contact a visitor left (`contact: {email, name, transcript} | null`), tidied: `{email, name, transcript}`. */
export function contactOf(c) {
  const k = c && c.contact && typeof c.contact === 'object' ? c.contact : null;
  return { email: str(k && k.email), name: str(k && k.name), transcript: !!(k && k.transcript === true) };
}

/** The visitor's name (given in the widget, else left as a contact), else their email, else "Visitor <first 6 of the id>". */
export function visitorName(c) {
  const name = str(c && c.visitor && c.visitor.name);
  if (name) return name;
  const contact = contactOf(c);
  if (contact.name) return contact.name;
  if (contact.email) return contact.email;
  return `Visitor ${String((c && c.conversation_id) || '').slice(0, 6)}`;
}

/** The header's second line: who to write to, e.g. "Jo Doe · jo@example.com · wants a transcript" ('' when nothing is known). */
export function contactLine(c) {
  const { email, name, transcript } = contactOf(c);
  const shown = visitorName(c);
  const parts = [];
  if (name && name !== shown) parts.push(name);
  if (email) parts.push(email);
  if (transcript && email) parts.push('wants a transcript');
  return parts.join(' · ');
}

/** "now", "4m", "3h", "2d" since `iso`. */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso || '');
  if (!t) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function clock(iso) {
  const d = new Date(iso || '');
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function dateTime(iso) {
  const d = new Date(iso || '');
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

export const STATUS_LABEL = { bot: 'With the bot', pending: 'Needs a human', open: 'Open', resolved: 'Resolved' };

/** Who wrote a message, as the thread shows it. */
export function senderLabel(m) {
  if (m.sender === 'agent') return m.sender_name || 'Agent';
  if (m.sender === 'bot') return 'Bot';
  if (m.sender === 'visitor') return 'Visitor';
  return '';
}

/** A short browser description from a User-Agent string (the full one is in the title). */
export function browserOf(ua) {
  if (!ua) return '—';
  const m = /(Edg|OPR|Firefox|Chrome|Version)\/([\d]+)/.exec(ua);
  const os = /Windows|Mac OS X|Android|iPhone|iPad|Linux/.exec(ua);
  const names = { Edg: 'Edge', OPR: 'Opera', Version: 'Safari' };
  const browser = m ? `${names[m[1]] || m[1]} ${m[2]}` : ua.slice(0, 40);
  return os ? `${browser} · ${os[0].replace('Mac OS X', 'macOS')}` : browser;
}

/** A delivery log row as the webhooks panel shows it (strings only). */
export function deliveryRow(d, now = Date.now()) {
  const ok = d && d.ok === true;
  const status = d && Number.isInteger(d.status) ? String(d.status) : '';
  const error = d && typeof d.error === 'string' ? d.error : '';
  return {
    at: dateTime(d && d.at),
    event: str(d && d.event),
    attempt: d && Number.isInteger(d.attempt) ? `#${d.attempt}` : '',
    result: [status, error].filter(Boolean).join(' · ') || (ok ? 'OK' : 'No answer'),
    latency: d && Number.isFinite(d.latency_ms) ? `${Math.round(d.latency_ms)} ms` : '—',
    outcome: ok ? 'ok' : 'failed',
    retry: !ok && d && d.next_retry_at ? `retry ${inTime(d.next_retry_at, now)}` : (ok ? '' : 'no more retries'),
    url: str(d && d.url),
  };
}

/** "in 5m", "in 2h" until `iso` ("now" once it is due). */
export function inTime(iso, now = Date.now()) {
  const t = Date.parse(iso || '');
  if (!t) return '';
  const s = Math.round((t - now) / 1000);
  if (s <= 30) return 'now';
  if (s < 3600) return `in ${Math.max(1, Math.round(s / 60))}m`;
  if (s < 86400) return `in ${Math.floor(s / 3600)}h`;
  return `in ${Math.floor(s / 86400)}d`;
}

/** Wording and time formats the views share. Pure: tested in node. */

/** The visitor's name, else "Visitor <first 6 of the id>". */
export function visitorName(c) {
  const name = c && c.visitor && typeof c.visitor.name === 'string' ? c.visitor.name.trim() : '';
  if (name) return name;
  return `Visitor ${String((c && c.conversation_id) || '').slice(0, 6)}`;
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

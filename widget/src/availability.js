/**
 * What the header says about the team (config's, init's or handoff's
 * `availability`): online now, else how soon they reply, or when they are
 * back once business hours begin again. Nothing without `availability` (an
 * older backend).
 */

/** "within 4 hours" ("within an hour" for 1); 24 when the backend names none. */
export const within = (t, hours) => (+hours === 1 ? t('hour1') : t('hours', { n: +hours || 24 }));

/** The header's line for `a`; `timeZone` only for tests (the visitor's own zone otherwise). */
export function availabilityText(t, a, locale, timeZone) {
  if (!a) return '';
  if (a.online) return t('online');
  const at = !a.open && a.next_open_at && new Date(a.next_open_at);
  if (at && !Number.isNaN(at.getTime())) {
    try {
      const when = new Intl.DateTimeFormat(locale, {
        weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone,
      }).format(at);
      return t('back', { when });
    } catch {
      // an unknown locale or zone: the promise below still holds
    }
  }
  return t('reply', { within: within(t, a.reply_within_hours) });
}

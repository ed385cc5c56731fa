/**
 * The deep link notification emails carry:
 * `<console>?site=<site_key>&conversation=<conversation_id>`. It is read once
 * at start, kept in memory through the sign-in, and consumed when the
 * conversation opens. Ids follow the backend's pattern (chalicelib/models.py
 * SITE_KEY, CONVERSATION_ID); anything else is ignored, not sent anywhere.
 */
export const ID = /^[A-Za-z0-9_-]{1,64}$/;

const valid = (v) => typeof v === 'string' && ID.test(v);

/** `{site, conversation}` from a query string (`conversation` may be null), or null. */
export function parseDeepLink(search) {
  let params;
  try {
    params = new URLSearchParams(search || '');
  } catch {
    return null;
  }
  const site = params.get('site');
  if (!valid(site)) return null;
  const conversation = params.get('conversation');
  return { site, conversation: valid(conversation) ? conversation : null };
}

/** The URL without the deep link's parameters (the rest of the query and the hash are kept). */
export function withoutDeepLink(href) {
  try {
    const u = new URL(href);
    u.searchParams.delete('site');
    u.searchParams.delete('conversation');
    return u.toString();
  } catch {
    return href;
  }
}

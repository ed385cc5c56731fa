/**
 * The site's webhooks and their delivery log (read-only: webhooks are
 * registered with the site CLI). A dialog over the inbox, opened from the
 * sidebar; the app loads the two lists and hands them to `render`.
 */
import { h, clear, setText } from './dom.js';
import { dateTime, deliveryRow } from './format.js';

export const ADD_HINT = 'python -m infra.sites webhook-add SITE URL [--event E ...]';

/**
 * The panel's content for `model`:
 * `{loading, unavailable, error, webhooks: [...] | null, deliveries: [...] | null, site, now}`.
 */
export function renderWebhooks(root, model) {
  const { loading, unavailable, error, webhooks, deliveries, site, now = Date.now() } = model || {};
  clear(root);
  root.dataset.state = unavailable ? 'unavailable' : error ? 'error' : loading ? 'loading' : 'ready';
  if (unavailable) {
    root.append(h('p', { class: 'wh__note', 'data-testid': 'webhooks-unavailable', text: 'Webhooks are not available on this server yet (its Parley is older than this console).' }));
    return;
  }
  if (error) root.append(h('p', { class: 'wh__error', role: 'alert', 'data-testid': 'webhooks-error', text: error }));
  if (loading && !webhooks) {
    root.append(h('p', { class: 'muted', 'data-testid': 'webhooks-loading', text: 'Loading…' }));
    return;
  }

  root.append(h('h3', { class: 'wh__title', text: 'Endpoints' }));
  const hooks = webhooks || [];
  if (!hooks.length) {
    root.append(h('p', { class: 'wh__empty muted', 'data-testid': 'webhooks-empty' },
      'No webhooks. Add one with ', h('code', { text: `${ADD_HINT.replace('SITE', site || 'SITE')}` }), '.'));
  } else {
    root.append(h('ul', { class: 'wh__hooks', 'data-testid': 'webhooks-list' }, hooks.map((w) => h('li', {
      class: 'wh__hook',
      'data-testid': 'webhook-row',
      'data-webhook-id': String(w.id ?? ''),
    },
    h('div', { class: 'wh__url', 'data-testid': 'webhook-url', text: String(w.url ?? '') }),
    h('div', { class: 'wh__meta muted' },
      h('span', { 'data-testid': 'webhook-events', text: Array.isArray(w.events) && w.events.length ? w.events.join(', ') : 'all events' }),
      w.secret_hint ? h('span', { 'data-testid': 'webhook-secret', text: ` · secret ${w.secret_hint}` }) : null,
      w.created_at ? h('span', { text: ` · added ${dateTime(w.created_at)}` }) : null)))));
  }

  root.append(h('h3', { class: 'wh__title', text: 'Recent deliveries' }));
  const log = deliveries || [];
  if (!log.length) {
    root.append(h('p', { class: 'wh__empty muted', 'data-testid': 'deliveries-empty', text: hooks.length ? 'Nothing delivered yet.' : 'No deliveries.' }));
    return;
  }
  const head = h('tr', {}, ['Time', 'Event', 'Attempt', 'Result', 'Latency', '', 'Next retry'].map((t) => h('th', { scope: 'col', text: t })));
  const rows = log.map((d) => {
    const r = deliveryRow(d, now);
    return h('tr', {
      class: `wh__row wh__row--${r.outcome}`,
      'data-testid': 'delivery-row',
      'data-delivery-id': String(d.id ?? ''),
      'data-event': r.event,
      'data-ok': r.outcome === 'ok' ? 'true' : 'false',
      'data-status': d && Number.isInteger(d.status) ? String(d.status) : '',
      title: r.url || undefined,
    },
    h('td', { 'data-testid': 'delivery-at', text: r.at }),
    h('td', { 'data-testid': 'delivery-event', text: r.event }),
    h('td', { 'data-testid': 'delivery-attempt', text: r.attempt }),
    h('td', { 'data-testid': 'delivery-result', text: r.result }),
    h('td', { 'data-testid': 'delivery-latency', text: r.latency }),
    h('td', {}, h('span', { class: `pill wh__outcome wh__outcome--${r.outcome}`, 'data-testid': 'delivery-outcome', text: r.outcome === 'ok' ? 'ok' : 'failed' })),
    h('td', { 'data-testid': 'delivery-retry', text: r.retry }));
  });
  root.append(h('div', { class: 'wh__scroll' }, h('table', { class: 'wh__log', 'data-testid': 'deliveries' }, h('thead', {}, head), h('tbody', {}, rows))));
}

export function createWebhooksView({ onRefresh, onClose }) {
  const content = h('div', { class: 'wh__content', 'data-testid': 'webhooks-content' });
  const title = h('h2', { id: 'webhooks-title', text: 'Webhooks' });
  const refresh = h('button', { type: 'button', class: 'btn btn--secondary', 'data-testid': 'webhooks-refresh', onclick: () => onRefresh() }, 'Refresh');
  const close = h('button', { type: 'button', class: 'btn btn--quiet', 'data-testid': 'webhooks-close', 'aria-label': 'Close (Esc)', onclick: () => onClose() }, 'Close');
  const el = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'webhooks-title', 'data-testid': 'webhooks-panel', hidden: true, tabindex: '-1' },
    h('div', { class: 'dialog__box wh' },
      h('header', { class: 'wh__header' }, title, h('div', { class: 'wh__tools' }, refresh, close)),
      content));

  return {
    el,
    get open() {
      return !el.hidden;
    },
    show(site) {
      setText(title, `Webhooks · ${site}`);
      el.hidden = false;
      refresh.focus();
    },
    hide() {
      el.hidden = true;
    },
    render(model) {
      refresh.disabled = !!(model && model.loading);
      renderWebhooks(content, model);
    },
  };
}

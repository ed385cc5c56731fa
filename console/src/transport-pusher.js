/**
 * Pusher Channels through pusher-js: the site feed `private-agent.site.<site>`
 * and the open conversation's `<channel_prefix><id>`, both authorized by
 * `POST /api/agent/pusher/auth` with the agent's ID token. Only the WebSocket
 * transport of the configured scheme is enabled, so pusher-js never fetches
 * SockJS (or anything) from a CDN; stats stay off.
 *
 * pusher-js reconnects by itself and resubscribes its channels; leaving
 * `connected` is reported as `down`, coming back as `up`, and every
 * (re)subscription as `subscribed`: each is a moment to catch up.
 */
import Pusher from 'pusher-js';

export function createPusherTransport({ config, authEndpoint, token, site, on, PusherImpl = Pusher }) {
  const options = config.pusher || {};
  const event = options.event || 'ChatMessageReceived';
  const prefix = options.channel_prefix || 'private-chat.conversation.';
  let pusher = null;
  let conversation = null; // {id, channel}
  let closed = false;
  let up = false;
  let unavailable = null;
  let failed = null;

  function watch(id) {
    if (conversation && conversation.id === id) return;
    if (conversation) pusher.unsubscribe(conversation.channel.name);
    conversation = null;
    if (!id || !pusher) return;
    const channel = pusher.subscribe(`${prefix}${id}`);
    conversation = { id, channel };
    channel.bind('pusher:subscription_succeeded', () => on.subscribed('conversation'));
    // A thin notice ({last_seq}) names no conversation: the channel does.
    channel.bind(event, (data) => on.message(data, id));
    channel.bind('ClientTyping', (data) => on.typing({ conversation_id: id, ...data }));
  }

  return {
    name: 'pusher',
    async connect() {
      if (!options.key) throw new Error('pusher: not configured');
      const tls = options.use_tls !== false;
      pusher = new PusherImpl(options.key, {
        cluster: options.cluster || 'mt1',
        ...(options.host ? { wsHost: options.host } : {}),
        ...(options.port ? { wsPort: options.port, wssPort: options.port } : {}),
        forceTLS: tls,
        enabledTransports: [tls ? 'wss' : 'ws'],
        enableStats: false,
        channelAuthorization: {
          endpoint: authEndpoint,
          transport: 'ajax',
          // Read on every authorization, so a resubscription carries the renewed token.
          headersProvider: () => ({ Authorization: `Bearer ${token()}` }),
        },
      });
      await new Promise((resolve, reject) => {
        const fail = (why) => () => reject(new Error(`pusher: ${why}`));
        // Only our own handlers are unbound later: pusher-js binds the connection's events itself.
        unavailable = fail('unavailable');
        failed = fail('failed');
        pusher.connection.bind('unavailable', unavailable);
        pusher.connection.bind('failed', failed);
        const feed = pusher.subscribe(`private-agent.site.${site}`);
        feed.bind('pusher:subscription_succeeded', () => {
          if (up) on.subscribed('feed');
          up = true;
          resolve();
        });
        feed.bind('pusher:subscription_error', fail('feed subscription refused'));
        feed.bind(event, (data) => on.message(data));
        feed.bind('ConversationCreated', (data) => on.created(data));
      });
      pusher.connection.unbind('unavailable', unavailable);
      pusher.connection.unbind('failed', failed);
      pusher.connection.bind('state_change', ({ previous, current }) => {
        if (closed) return;
        if (current === 'connected') on.up();
        else if (previous === 'connected') on.down();
      });
    },
    watch,
    close() {
      closed = true;
      if (pusher) pusher.disconnect();
    },
    /** Starts the socket over (after the browser was offline); pusher-js resubscribes on connect. */
    restart() {
      if (!pusher || closed) return;
      pusher.disconnect();
      pusher.connect();
    },
    socketId: () => (pusher && pusher.connection.socket_id) || undefined,
    typing: () => false,
  };
}

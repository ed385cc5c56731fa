#!/usr/bin/env node
/**
 * Subscribes to one private channel with pusher-js (from widget/node_modules) and
 * prints what happens, one JSON object a line, for tests/e2e/test_pusher_server.py:
 *
 *   {"type":"connected","socket_id":"123.456"}
 *   {"type":"subscribed","channel":"private-x"}
 *   {"type":"subscription_error","channel":"private-x","error":{...}}
 *   {"type":"event","channel":"private-x","event":"E","data":...}
 *   {"type":"timeout"}
 *
 * Usage:
 *   node pusher_subscribe.js --key K --host 127.0.0.1 --port 6001 \
 *     --auth-endpoint http://127.0.0.1:8000/pusher/auth --token T \
 *     --channel private-x [--events 1] [--timeout 10]
 *
 * Exits 0 after --events events, 2 on a subscription error, 3 on timeout.
 * Only pusher-js's public options are used, as the widget would use them.
 */
'use strict';

const path = require('path');

function parseArgs(argv) {
  const args = { events: '1', timeout: '10', cluster: 'mt1' };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    args[name] = argv[i + 1];
  }
  for (const required of ['key', 'host', 'port', 'authEndpoint', 'token', 'channel']) {
    if (!args[required]) {
      throw new Error(`missing --${required.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
    }
  }
  return args;
}

// pusher-js is the widget's dependency, so resolve it from there rather than
// from wherever this script happens to run.
function loadPusher() {
  const widgetDir = process.env.PARLEY_WIDGET_DIR || path.resolve(__dirname, '..', '..', '..', 'widget');
  return require(require.resolve('pusher-js', { paths: [widgetDir] }));
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const Pusher = loadPusher();
  const wanted = Number(args.events);
  let received = 0;

  const pusher = new Pusher(args.key, {
    cluster: args.cluster,
    wsHost: args.host,
    wsPort: Number(args.port),
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: {
      endpoint: args.authEndpoint,
      transport: 'ajax',
      headers: { Authorization: `Bearer ${args.token}` },
    },
  });

  function finish(code) {
    clearTimeout(timer);
    pusher.disconnect();
    // Let stdout drain before leaving; process.exit can cut a piped write short.
    process.stdout.write('', () => process.exit(code));
  }

  const timer = setTimeout(() => {
    emit({ type: 'timeout' });
    finish(3);
  }, Number(args.timeout) * 1000);

  pusher.connection.bind('connected', () => {
    emit({ type: 'connected', socket_id: pusher.connection.socket_id });
  });

  const channel = pusher.subscribe(args.channel);
  channel.bind('pusher:subscription_succeeded', () => {
    emit({ type: 'subscribed', channel: args.channel });
  });
  channel.bind('pusher:subscription_error', (error) => {
    emit({ type: 'subscription_error', channel: args.channel, error });
    finish(2);
  });
  channel.bind_global((event, data) => {
    if (event.startsWith('pusher:') || event.startsWith('pusher_internal:')) {
      return;
    }
    emit({ type: 'event', channel: args.channel, event, data });
    received += 1;
    if (received >= wanted) {
      finish(0);
    }
  });
}

main();

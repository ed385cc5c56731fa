/**
 * Stands in for transports/pusher.js in the build without pusher-js
 * (`node build.mjs --no-pusher`): no pusher transport at all, so realtime.js
 * skips the provider and goes straight to the next one.
 */
export const createPusherTransport = null;

/** parley-pusher.js: pusher-js, loaded by the Pusher transport when it first connects. */
import Pusher from 'pusher-js';
import { defineChunk } from '../chunks.js';

defineChunk({ Pusher });

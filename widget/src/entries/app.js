/** parley-app.js: the chat (panel, conversation, realtime), loaded by parley.js on first need. */
import { defineChunk } from '../chunks.js';
import { createApp } from '../app.js';

defineChunk({ createApp });

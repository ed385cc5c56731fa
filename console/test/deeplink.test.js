import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeepLink, withoutDeepLink } from '../src/deeplink.js';

test('a notification link names a site and a conversation', () => {
  assert.deepEqual(parseDeepLink('?site=demo&conversation=c_1a2B-3'), { site: 'demo', conversation: 'c_1a2B-3' });
  assert.deepEqual(parseDeepLink('site=demo&conversation=abc'), { site: 'demo', conversation: 'abc' }, 'with or without the ?');
  assert.deepEqual(parseDeepLink('?site=demo'), { site: 'demo', conversation: null }, 'a site alone opens the site');
  assert.deepEqual(parseDeepLink(`?site=s&conversation=${'a'.repeat(64)}`), { site: 's', conversation: 'a'.repeat(64) });
});

test('ids that do not match /^[A-Za-z0-9_-]{1,64}$/ are ignored', () => {
  assert.equal(parseDeepLink(''), null);
  assert.equal(parseDeepLink(undefined), null);
  assert.equal(parseDeepLink('?conversation=abc'), null, 'no site: nothing to open');
  assert.equal(parseDeepLink('?site=../admin&conversation=abc'), null);
  assert.equal(parseDeepLink('?site=&conversation=abc'), null);
  assert.equal(parseDeepLink(`?site=${'a'.repeat(65)}`), null);
  assert.deepEqual(parseDeepLink('?site=demo&conversation=<script>'), { site: 'demo', conversation: null });
  assert.deepEqual(parseDeepLink('?site=demo&conversation=a%2Fb'), { site: 'demo', conversation: null }, 'an encoded slash is still a slash');
  assert.deepEqual(parseDeepLink('?site=demo&conversation=abc%00'), { site: 'demo', conversation: null });
  assert.deepEqual(parseDeepLink(`?site=demo&conversation=${'a'.repeat(65)}`), { site: 'demo', conversation: null });
  assert.deepEqual(parseDeepLink('?site=demo&conversation=a b'), { site: 'demo', conversation: null });
});

test('once used, the link leaves the address (other parameters and the hash stay)', () => {
  assert.equal(withoutDeepLink('http://127.0.0.1:8090/?site=demo&conversation=abc'), 'http://127.0.0.1:8090/');
  assert.equal(withoutDeepLink('http://x.test/console/?a=1&site=demo&conversation=abc#top'), 'http://x.test/console/?a=1#top');
  assert.equal(withoutDeepLink('not a url'), 'not a url');
});

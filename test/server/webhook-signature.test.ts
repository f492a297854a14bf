import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventName, verifySignature } from '../../src/server/webhook-signature.ts';

import { fixture, SECRET, SIGNATURES } from '../helpers/gitea-fixtures.ts';

test('every fixture verifies through each signature header', () => {
  for (const [name, signature] of Object.entries(SIGNATURES)) {
    const body = fixture(name);
    assert.equal(verifySignature(body, { 'x-gitea-signature': signature }, SECRET), true, `${name} X-Gitea-Signature`);
    assert.equal(verifySignature(body, { 'x-forgejo-signature': signature }, SECRET), true, `${name} X-Forgejo-Signature`);
    assert.equal(verifySignature(body, { 'x-gogs-signature': signature }, SECRET), true, `${name} X-Gogs-Signature`);
    assert.equal(verifySignature(body, { 'x-hub-signature-256': `sha256=${signature}` }, SECRET), true, `${name} X-Hub-Signature-256`);
  }
});

test('a wrong, missing, malformed or misplaced signature, or a changed body, is false', () => {
  const body = fixture('push-monorepo.json');
  const good = SIGNATURES['push-monorepo.json'];
  const refused: [string, Record<string, string | string[] | undefined>][] = [
    ['no header at all', {}],
    ['header undefined', { 'x-gitea-signature': undefined }],
    ['empty', { 'x-gitea-signature': '' }],
    ['another fixture\'s signature', { 'x-gitea-signature': SIGNATURES['push-tag.json'] }],
    ['one hex digit changed', { 'x-gitea-signature': good.slice(0, -1) + (good.endsWith('0') ? '1' : '0') }],
    ['uppercase hex', { 'x-gitea-signature': good.toUpperCase() }],
    ['short', { 'x-gitea-signature': good.slice(0, -2) }],
    ['long', { 'x-gitea-signature': good + '00' }],
    ['odd length', { 'x-gitea-signature': good.slice(0, -1) }],
    ['non-hex', { 'x-gitea-signature': 'z'.repeat(64) }],
    ['non-hex tail Buffer.from would drop', { 'x-gitea-signature': good.slice(0, -2) + 'zz' }],
    ['sha256= prefix where none belongs', { 'x-gitea-signature': `sha256=${good}` }],
    ['X-Hub-Signature-256 without its prefix', { 'x-hub-signature-256': good }],
    ['X-Hub-Signature-256 with another algorithm', { 'x-hub-signature-256': `sha1=${good}` }],
    ['only the old sha1 X-Hub-Signature', { 'x-hub-signature': `sha256=${good}` }],
    ['a bad first header is not outvoted by a good second one', { 'x-gitea-signature': '0'.repeat(64), 'x-hub-signature-256': `sha256=${good}` }],
    ['an empty list', { 'x-gitea-signature': [] }],
  ];
  for (const [what, headers] of refused) assert.equal(verifySignature(body, headers, SECRET), false, what);

  assert.equal(verifySignature(body, { 'x-gitea-signature': good }, 'other-secret'), false, 'wrong secret');
  assert.equal(verifySignature(body, { 'x-gitea-signature': good }, ''), false, 'empty secret');
  for (const index of [0, body.length >> 1, body.length - 1]) {
    const changed = Buffer.from(body);
    changed[index] ^= 1;
    assert.equal(verifySignature(changed, { 'x-gitea-signature': good }, SECRET), false, `byte ${index} changed`);
  }
  assert.equal(verifySignature(Buffer.concat([body, Buffer.from('\n')]), { 'x-gitea-signature': good }, SECRET), false, 'trailing newline');
  assert.equal(verifySignature(body, { 'x-gitea-signature': [good] }, SECRET), true, 'a repeated header uses its first value');
});

test('eventName reads the Gitea, Forgejo, Gogs and GitHub headers', () => {
  assert.equal(eventName({ 'x-gitea-event': 'push' }), 'push');
  assert.equal(eventName({ 'x-forgejo-event': 'delete' }), 'delete');
  assert.equal(eventName({ 'x-gogs-event': 'create' }), 'create');
  assert.equal(eventName({ 'x-github-event': 'ping' }), 'ping');
  assert.equal(eventName({ 'x-gitea-event': 'push', 'x-github-event': 'push' }), 'push');
  assert.equal(eventName({}), undefined);
  assert.equal(eventName({ 'x-gitea-event': '' }), undefined);
  assert.equal(eventName({ 'content-type': 'application/json' }), undefined);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headCommitMessage, skipMarkerIn, whyNotDeploy } from '../../src/domain/skip-markers.ts';
import { fixture } from '../helpers/gitea-fixtures.ts';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

test('headCommitMessage: head_commit, else the listed commit that is `after`, else the last listed', () => {
  assert.equal(headCommitMessage(fixture('push-monorepo.json'), 'x'), 'other: add x.go, document it in README\n');
  const commits = [{ id: 'new', message: 'newest' }, { id: 'old', message: 'oldest' }];
  assert.equal(headCommitMessage(body({ commits }), 'new'), 'newest', 'Gitea lists the newest first');
  assert.equal(headCommitMessage(body({ commits }), 'other'), 'oldest');
  assert.equal(headCommitMessage(body({ head_commit: null, commits: null }), 'x'), '');
  assert.equal(headCommitMessage(body({ head_commit: { message: 7 } }), 'x'), '', 'an odd body says nothing, it does not throw');
  assert.equal(headCommitMessage(Buffer.from('{'), 'x'), '');
});

test('skipMarkerIn: [skip deploy] and [deploy skip] in any case; [skip ci] only for a target that opts in', () => {
  const plain = { skip_ci_marker: false };
  const optedIn = { skip_ci_marker: true };
  assert.equal(skipMarkerIn('fix [skip deploy]', plain), '[skip deploy]');
  assert.equal(skipMarkerIn('[DEPLOY SKIP] later', plain), '[DEPLOY SKIP]');
  assert.equal(skipMarkerIn('x\n\n[Skip Deploy]', plain), '[Skip Deploy]', 'in the body too');
  assert.equal(skipMarkerIn('skip deploy', plain), undefined, 'only in brackets');
  assert.equal(skipMarkerIn('[skipdeploy]', plain), undefined);
  assert.equal(skipMarkerIn('docs [skip ci]', plain), undefined);
  assert.equal(skipMarkerIn('docs [SKIP CI]', optedIn), '[SKIP CI]');
});

test('whyNotDeploy: a skip marker first, then a lock; otherwise deploy', () => {
  const target = { app: 'web', host: 'vps1', skip_ci_marker: false };
  const locks = [{ app: 'web', host: null, reason: 'freeze', locked_by: 'alice', locked_at: '2026-01-01T00:00:00.000Z', expires_at: null }];
  assert.equal(whyNotDeploy(target, { headMessage: 'ok', locks: [] }), undefined);
  assert.equal(whyNotDeploy(target, { headMessage: 'ok', locks }), 'skipped: web@vps1 is locked by alice: freeze');
  assert.equal(whyNotDeploy(target, { headMessage: '[deploy skip]', locks }), 'skipped: the head commit says [deploy skip]');
});

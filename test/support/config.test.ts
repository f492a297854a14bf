// The environment read at the edge (src/support/config.ts): DEPLOY_SUDO and how the privileged
// commands are reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, usesSudo } from '../../src/support/config.ts';
import { planSetup } from '../../src/domain/setup.ts';
import { parseTarget } from '../../src/domain/target-schema.ts';

test('DEPLOY_SUDO: auto by default (sudo -n unless the SSH user is root), never on request, nothing else', () => {
  assert.equal(loadConfig({}).sudo, 'auto');
  assert.equal(loadConfig({ DEPLOY_SUDO: 'never' }).sudo, 'never');
  assert.throws(() => loadConfig({ DEPLOY_SUDO: 'sometimes' }), new ConfigError('DEPLOY_SUDO must be auto or never (got "sometimes")'));
  assert.deepEqual([usesSudo({ sudo: 'auto' }, 'deploy'), usesSudo({ sudo: 'auto' }, 'root'), usesSudo({ sudo: 'never' }, 'deploy')], [true, false, false]);
});

test('DEPLOY_LEASE_TIMEOUT: 30 s by default; under 5 s (the lease is renewed every second) refused in one line', () => {
  assert.equal(loadConfig({}).leaseMs, 30_000);
  assert.equal(loadConfig({ DEPLOY_LEASE_TIMEOUT: '5' }).leaseMs, 5000);
  assert.throws(() => loadConfig({ DEPLOY_LEASE_TIMEOUT: '4' }), new ConfigError('DEPLOY_LEASE_TIMEOUT must be at least 5 seconds: each server renews its lease every second (got "4")'));
  assert.throws(() => loadConfig({ DEPLOY_LEASE_TIMEOUT: '0' }), new ConfigError('DEPLOY_LEASE_TIMEOUT must be a positive integer (got "0")'));
});

test('DEPLOY_SSH_PERSIST_SECONDS: 0 (off) by default, seconds when given, anything else refused in one line naming it', () => {
  assert.equal(loadConfig({}).sshPersistMs, 0);
  assert.equal(loadConfig({ DEPLOY_SSH_PERSIST_SECONDS: '0' }).sshPersistMs, 0);
  assert.equal(loadConfig({ DEPLOY_SSH_PERSIST_SECONDS: '30' }).sshPersistMs, 30_000);
  for (const bad of ['-1', '1.5', 'ten', '10s']) {
    assert.throws(() => loadConfig({ DEPLOY_SSH_PERSIST_SECONDS: bad }), new ConfigError(`DEPLOY_SSH_PERSIST_SECONDS must be a non-negative integer (got "${bad}")`));
  }
});

test('setup with DEPLOY_SUDO=never: no sudo anywhere in its commands, for a non-root SSH user', () => {
  const target = parseTarget({ app: 'my_app', host: 'vps1', env: { K: 'v' } });
  const commands = (sudo: 'auto' | 'never') => planSetup(target, 'deploy', { unitDir: '/etc/systemd/system', sudo }).flatMap((a) => a.commands.map((c) => c.command));
  assert.deepEqual(commands('never'), [
    'mkdir -p /opt/apps/my_app',
    "tee /etc/systemd/system/my_app.service > /dev/null",
    'systemctl daemon-reload',
    'systemctl enable my_app',
  ]);
  assert.deepEqual(commands('auto'), [
    'mkdir -p /opt/apps/my_app 2>/dev/null || sudo -n install -d -o deploy /opt/apps/my_app',
    "sudo -n tee /etc/systemd/system/my_app.service > /dev/null",
    'sudo -n systemctl daemon-reload',
    'sudo -n systemctl enable my_app',
  ]);
});

test("childEnvironment: every child loses the server's secrets and git variables, and git never prompts", async () => {
  const { childEnvironment } = await import('../../src/support/config.ts');
  const env = childEnvironment({ PATH: '/bin', DEPLOY_API_TOKEN: 't', DEPLOY_WEBHOOK_SECRET: 's', GIT_DIR: '/elsewhere/.git', GIT_WORK_TREE: '/elsewhere', GIT_INDEX_FILE: '/i' });
  assert.deepEqual(env, { PATH: '/bin', GIT_TERMINAL_PROMPT: '0' });
});

// ProxyJump values as OpenSSH reads them: hops in order, user and port per hop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyJump, ProxyJumpError } from '../../src/transport/ssh/proxy-jump.ts';

test('ProxyJump: one alias, user@host:port, ssh:// and a bracketed IPv6 address', () => {
  assert.deepEqual(parseProxyJump('bastion'), [{ host: 'bastion' }]);
  assert.deepEqual(parseProxyJump('jump@10.0.0.1:2222'), [{ host: '10.0.0.1', user: 'jump', port: 2222 }]);
  assert.deepEqual(parseProxyJump('ssh://ops@gw.example:22'), [{ host: 'gw.example', user: 'ops', port: 22 }]);
  assert.deepEqual(parseProxyJump('[::1]:2200'), [{ host: '::1', port: 2200 }]);
});

test('ProxyJump: a chain keeps its order, first hop first', () => {
  assert.deepEqual(parseProxyJump('outer, me@inner:2022'), [{ host: 'outer' }, { host: 'inner', user: 'me', port: 2022 }]);
});

test('ProxyJump: what ssh would refuse is one clear error', () => {
  for (const bad of ['a,,b', 'host:0', 'host:70000', 'host:x', '@host', 'a b', '']) {
    assert.throws(() => parseProxyJump(bad), ProxyJumpError, bad);
  }
});

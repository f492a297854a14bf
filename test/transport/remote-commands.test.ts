import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shellQuote, shellJoin } from '../../src/transport/shell.ts';
import { gitClone, gitHead, gitPull } from '../../src/transport/remote/git.ts';
import { enableService, isServiceActive, reloadUnits, renderUnit, restartService, serviceStatus, writeUnitFile } from '../../src/transport/remote/systemd.ts';
import { composePull, composeServiceStates, composeStatus, composeUp } from '../../src/transport/remote/compose.ts';
import { lacksGitCheckout, makeDirectory, makeExecutable } from '../../src/transport/remote/fs.ts';
import { remoteBuild } from '../../src/transport/remote/build.ts';
import { parseTarget } from '../../src/domain/target-schema.ts';

const hostile = ["it's", 'a b', '$(touch /tmp/pwned)', '`id`', 'x; rm -rf /', 'new\nline', '"dq"', '', '-n', '*'];

test('shellQuote leaves plain words alone and single-quotes everything else', () => {
  assert.equal(shellQuote('main'), 'main');
  assert.equal(shellQuote('/opt/apps/my_app'), '/opt/apps/my_app');
  assert.equal(shellQuote('release/v1.2'), 'release/v1.2');
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('$(id)'), "'$(id)'");
  assert.equal(shellQuote('`id`'), "'`id`'");
  assert.equal(shellQuote('x;y'), "'x;y'");
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('~'), "'~'");
  assert.equal(shellQuote('*'), "'*'");
});

test('a real shell reads every quoted value back literally', () => {
  const echoed = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${shellJoin(hostile)}`]).toString();
  assert.deepEqual(echoed.split('\0').slice(0, -1), hostile);
});

test('git commands', () => {
  assert.equal(gitPull('/opt/apps/api', 'main').command, 'git -C /opt/apps/api pull --ff-only origin main');
  assert.equal(gitPull('/srv/my app', 'feat;touch /tmp/x').command, "git -C '/srv/my app' pull --ff-only origin 'feat;touch /tmp/x'");
  assert.equal(gitPull('/srv/$(id)', "it's").command, "git -C '/srv/$(id)' pull --ff-only origin 'it'\\''s'");
  assert.equal(gitHead('/srv/my app').command, "git -C '/srv/my app' rev-parse HEAD");
  assert.equal(
    gitClone('git@git.example.com:acme/api.git', 'main', '/srv/my app').command,
    "git clone --branch main -- git@git.example.com:acme/api.git '/srv/my app'",
  );
});

test('systemctl commands go through sudo -n only when asked', () => {
  assert.equal(restartService('my_app', false).command, 'systemctl restart my_app');
  assert.equal(restartService('my_app', true).command, 'sudo -n systemctl restart my_app');
  assert.equal(isServiceActive('my_app', true).command, 'sudo -n systemctl is-active my_app');
  assert.equal(serviceStatus('my.app', false).command, 'systemctl status --no-pager my.app');
  assert.equal(reloadUnits(true).command, 'sudo -n systemctl daemon-reload');
  assert.equal(enableService('my_app', true).command, 'sudo -n systemctl enable my_app');
});

test('the unit file travels on stdin, never on the command line', () => {
  const write = writeUnitFile('/etc/systemd/system', 'my_app', true, '[Unit]\nEnvironment="TOKEN=s3cret"\n');
  assert.deepEqual(write, {
    name: 'write unit',
    command: 'sudo -n tee /etc/systemd/system/my_app.service > /dev/null',
    display: 'write /etc/systemd/system/my_app.service',
    stdin: '[Unit]\nEnvironment="TOKEN=s3cret"\n',
  });
});

test('renderUnit writes User, WorkingDirectory, ExecStart and one Environment= per entry, quoted for systemd', () => {
  const target = parseTarget({
    app: 'my_app', host: 'vps1', user: 'svc', remote_dir: '/srv/my app',
    env: { DATABASE_URL: 'postgres://u:p@db/x?a=1', GREETING: 'say "hi" 100%', PATH_LIKE: 'C:\\bin' },
  });
  assert.equal(renderUnit(target), [
    '[Unit]',
    'Description=my_app (deployed by deploy_server)',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=svc',
    'WorkingDirectory=/srv/my app',
    'ExecStart="/srv/my app/my_app"',
    'Environment="DATABASE_URL=postgres://u:p@db/x?a=1"',
    'Environment="GREETING=say \\"hi\\" 100%%"',
    'Environment="PATH_LIKE=C:\\\\bin"',
    'Restart=on-failure',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n'));
  assert.ok(!renderUnit(parseTarget({ app: 'a', host: 'h' })).includes('User='), 'no User= line without a user');
  // `%h` would be the service user's home: a literal `%` is `%%`, in WorkingDirectory= as in the quoted lines.
  const percent = renderUnit(parseTarget({ app: 'a', host: 'h', remote_dir: '/srv/100%h', env: { P: '%n' } }));
  assert.match(percent, /^WorkingDirectory=\/srv\/100%%h$/m);
  assert.match(percent, /^ExecStart="\/srv\/100%%h\/a"$/m);
  assert.match(percent, /^Environment="P=%%n"$/m);
});

test('docker compose commands list docker-compose.yml and then the extra files in order', () => {
  const target = parseTarget({ app: 'chat', host: 'h', strategy: 'docker-compose', compose_files: ['docker-compose.prod.yml', 'my override.yml'] });
  assert.equal(composePull(target).command, "cd /opt/apps/chat && docker compose -f docker-compose.yml -f docker-compose.prod.yml -f 'my override.yml' pull");
  assert.equal(composeUp(target).command, "cd /opt/apps/chat && docker compose -f docker-compose.yml -f docker-compose.prod.yml -f 'my override.yml' up -d");
  assert.equal(composeStatus(parseTarget({ app: 'chat', host: 'h' })).command, 'cd /opt/apps/chat && docker compose -f docker-compose.yml ps');
  assert.equal(composeServiceStates(target).command, "cd /opt/apps/chat && docker compose -f docker-compose.yml -f docker-compose.prod.yml -f 'my override.yml' ps --all --format json");
});

test('file commands', () => {
  assert.equal(makeDirectory('/srv/my app', null).command, "mkdir -p '/srv/my app'");
  assert.equal(makeDirectory('/opt/apps/x', 'deploy').command, 'mkdir -p /opt/apps/x 2>/dev/null || sudo -n install -d -o deploy /opt/apps/x');
  assert.equal(makeExecutable('/srv/a/b').command, 'chmod +x /srv/a/b');
  assert.equal(lacksGitCheckout("/srv/it's").command, "test ! -d '/srv/it'\\''s/.git'");
});

test('build_cmd is the one value passed as a shell command, in the quoted directory', () => {
  assert.equal(remoteBuild('/srv/my app', 'make build && ./test.sh').command, "cd '/srv/my app' || exit 1; make build && ./test.sh");
  assert.equal(remoteBuild('/srv/x', 'sleep 300 & echo $! > pid').command, 'cd /srv/x || exit 1; sleep 300 & echo $! > pid');
});

test('every command has a name without its arguments, for spans and logs', () => {
  const target = parseTarget({ app: 'a', host: 'h', remote_dir: '/srv/s3cret-dir', strategy: 'docker-compose' });
  assert.deepEqual(
    [
      gitPull('/srv/s3cret-dir', 's3cret-branch'), gitHead('/srv/s3cret-dir'), gitClone('s3cret-repo', 'main', '/srv/x'),
      restartService('a', true), writeUnitFile('/etc/systemd/system', 'a', true, 'Environment=S3CRET'), composeUp(target),
      remoteBuild('/srv/x', 'make s3cret'), makeDirectory('/srv/s3cret-dir', 'u'), lacksGitCheckout('/x'),
    ].map((c) => c.name),
    ['git pull', 'git rev-parse', 'git clone', 'systemctl restart', 'write unit', 'docker compose up', 'build', 'mkdir', 'test git checkout'],
  );
});

test('compose health: every container running and none unhealthy or starting; both ps JSON shapes read', async () => {
  const { composeProblems, parseComposePs } = await import('../../src/steps/service.ts');
  const lines = '{"Service":"web","State":"running","Health":"","Status":"Up 2 seconds"}\n{"Service":"db","State":"running","Health":"healthy","Status":"Up"}\n';
  assert.deepEqual(parseComposePs(lines).map((c) => c.Service), ['web', 'db']);
  assert.deepEqual(parseComposePs('[{"Service":"web","State":"exited"}]').map((c) => c.State), ['exited'], 'Compose before 2.21: one array');
  assert.equal(composeProblems(parseComposePs(lines)), null);
  assert.equal(composeProblems([]), 'no container');
  assert.equal(
    composeProblems([{ Service: 'web', State: 'exited', Status: 'Exited (1) 3 seconds ago' }, { Service: 'db', State: 'running', Health: 'unhealthy' }, { Service: 'q', State: 'running', Health: 'starting' }]),
    'web exited (Exited (1) 3 seconds ago), db unhealthy, q starting',
  );
});

test('renderUnit escapes a newline in an env value as \\n, so a value can never start a directive of its own', () => {
  // Built by hand: the target schema may refuse such a value at the entry; the unit must be safe anyway.
  const target = { ...parseTarget({ app: 'my_app', host: 'vps1' }), env: { MOTD: 'hello\nExecStartPre=/bin/sh -c "touch /pwned"', PEM: '-----BEGIN-----\nMIIB\n-----END-----' } };
  const unit = renderUnit(target);
  assert.ok(unit.includes('Environment="MOTD=hello\\nExecStartPre=/bin/sh -c \\"touch /pwned\\""\n'), unit);
  assert.ok(unit.includes('Environment="PEM=-----BEGIN-----\\nMIIB\\n-----END-----"\n'), unit);
  assert.deepEqual(unit.split('\n').filter((line) => /^ExecStart/.test(line)), ['ExecStart="/opt/apps/my_app/my_app"']);
  assert.equal(unit.split('\n').length, renderUnit({ ...target, env: { MOTD: 'x', PEM: 'y' } }).split('\n').length, 'no extra line');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, createTargetRedactor, maskKnownSecrets } from '../../src/support/redact.ts';
import { loadConfig } from '../../src/support/config.ts';

test('maskKnownSecrets: credentials in URLs, secret-named assignments and token shapes', () => {
  const cases: [string, string][] = [
    ['https://deploy:s3cr3t-tok@git.example.com/acme/api.git', 'https://***@git.example.com/acme/api.git'],
    ['https://glpat-abcdefghijklmnop1234@gitlab.example.com/a/b', 'https://***@gitlab.example.com/a/b'],
    ['git clone http://u:p@h/x && make', 'git clone http://***@h/x && make'],
    ['ssh://git@git.example.com:2222/acme/api.git', 'ssh://git@git.example.com:2222/acme/api.git'],
    ['ssh://git:pw@git.example.com/acme/api.git', 'ssh://***@git.example.com/acme/api.git'],
    ['git@git.example.com:acme/api.git', 'git@git.example.com:acme/api.git'],
    ['NPM_TOKEN=npm_abc123 npm ci && make', 'NPM_TOKEN=*** npm ci && make'],
    ['export GITHUB_TOKEN="ghp_x" ; go build', 'export GITHUB_TOKEN=*** ; go build'],
    ['DB_PASSWORD: hunter22', 'DB_PASSWORD: ***'],
    ['using ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 to clone', 'using *** to clone'],
    ['token glpat-AbCdEfGhIjKlMnOpQrSt here', 'token *** here'],
    ['key AKIAIOSFODNN7EXAMPLE', 'key ***'],
    ['go build -o my_app .', 'go build -o my_app .'],
    ['https://git.example.com/acme/api.git', 'https://git.example.com/acme/api.git'],
  ];
  for (const [input, masked] of cases) assert.equal(maskKnownSecrets(input), masked, input);
});

test('every redactor (step output, status, errors) masks known secret shapes too, besides the values it is given', () => {
  assert.equal(createRedactor([])('fetching https://ci:tok3n@h/x'), 'fetching https://***@h/x');
  const redact = createTargetRedactor({ env: { API_KEY: 'value-of-env' } }, { ...loadConfig({}), apiReadToken: 'read-token-1' });
  assert.equal(redact('env value-of-env, read read-token-1, NPM_TOKEN=abc'), 'env ***, read ***, NPM_TOKEN=***');
});

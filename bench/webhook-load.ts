// The webhook load the intake benches send: autocannon POSTs of signed pushes, each a distinct push
// (its own `after`) touching every app of `apps`.
import { createHmac } from 'node:crypto';
import autocannon from 'autocannon';

/** A generator of distinct signed pushes; `count()` is how many it has made. */
export function signedPushes(secret: string, apps: readonly string[]) {
  let push = 0;
  const next = () => {
    const after = (++push).toString(16).padStart(40, '0');
    const body = JSON.stringify({
      ref: 'refs/heads/main', before: 'f'.repeat(40), after, total_commits: 1,
      commits: [{ id: after, added: [], removed: [], modified: apps.map((app) => `apps/${app}/main.go`) }],
      repository: { name: 'registry', full_name: 'acme/registry' },
    });
    return { body, signature: createHmac('sha256', secret).update(body).digest('hex') };
  };
  return { next, count: () => push };
}

/** autocannon against `url` for `seconds`, each request the next push of `pushes`; `onAnswer` sees each response. */
export function loadWebhook(
  url: string,
  pushes: ReturnType<typeof signedPushes>,
  options: { connections: number; seconds: number; onAnswer?: (status: number, body: string) => void },
): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    requests: [
      {
        setupRequest: (request) => {
          const { body, signature } = pushes.next();
          return { ...request, body, headers: { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-signature': signature } };
        },
        ...(options.onAnswer ? { onResponse: options.onAnswer } : {}),
      },
    ],
  });
}

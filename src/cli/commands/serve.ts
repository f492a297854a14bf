import { once } from 'node:events';
import { Command, Option } from 'clipanion';
import { DeployCommand } from '../base-command.ts';

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export class ServeCommand extends DeployCommand {
  static override paths = [['serve']];
  static override usage = Command.Usage({
    category: 'Server',
    description: 'run the deploy server (webhooks and REST API)',
    details: 'Listens until SIGTERM or SIGINT. The database schema is brought up to date at start.',
    examples: [
      ['Listen on port 9090', '$0 serve --port 9090'],
      ['Only on loopback', '$0 serve --port 9090 --bind 127.0.0.1'],
    ],
  });

  port = Option.String('--port', '9090', { description: 'TCP port to listen on (0 picks a free one)' });
  bind = Option.String('--bind', '0.0.0.0', { description: 'address to listen on' });
  insecureWebhooks = Option.Boolean('--insecure-webhooks', false, {
    description: 'accept unsigned webhooks when DEPLOY_WEBHOOK_SECRET is not set (development only)',
  });
  insecureApi = Option.Boolean('--insecure-api', false, {
    description: 'accept /api requests without a token when DEPLOY_API_TOKEN and DEPLOY_API_READ_TOKEN are not set (development only)',
  });

  async run() {
    if (!/^\d+$/.test(this.port) || Number(this.port) > 65535) throw new Error(`--port must be between 0 and 65535 (got "${this.port}")`);
    const [{ createApp }, { startRuntime }, { pino }, { loadTracing }, { createPushReceiver }, { startPruning, describePrune }, { describeDatabase }] = await Promise.all([
      import('../../server/app.ts'), import('../../engine/runtime.ts'), import('pino'), import('../../support/tracing.ts'), import('../../domain/push.ts'),
      import('../../domain/retention.ts'), import('../../db/orm.ts'),
    ]);
    const config = this.config();
    const tracing = await loadTracing(this.context.env);
    const { orm, store, executor, interrupted, notifier, connect, closeConnections } = await startRuntime(config, tracing?.tracer, undefined, true, { persistConnections: true });
    let pruning: { stop: () => Promise<void> } | undefined;
    try {
      if (interrupted.length) this.context.stdout.write(`marked ${interrupted.length} unfinished run(s) of a stopped process as interrupted: #${interrupted.join(', #')}\n`);
      const logger = pino({ base: { service: 'deploy_server' } }, pino.destination({ fd: 2, sync: false }));
      const pushes = createPushReceiver({ orm, store, config, executor, logger });
      // Old history goes in the background: 10 s after start, then every hour (on PostgreSQL every
      // server prunes: the deletes re-check each run, so two at once delete it once).
      pruning = startPruning({
        orm, dbPath: config.dbPath, policy: { keepRuns: config.keepRuns, keepDays: config.keepDays }, intervalMs: PRUNE_INTERVAL_MS,
        onPruned: (report) => (report.runs || report.deliveries) && logger.info({ pruned: report }, describePrune(report)),
        onError: (error) => logger.error({ err: { name: (error as Error).name } }, 'pruning the history failed'),
      });
      const server = createApp({ orm, store, config, executor, logger, pushes, connect, tracer: tracing?.tracer, insecureWebhooks: this.insecureWebhooks, insecureApi: this.insecureApi }).listen(Number(this.port), this.bind);
      await once(server, 'listening');
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : this.port;
      this.context.stdout.write(`deploy_server listening on http://${this.bind}:${port} (db ${describeDatabase(config.dbPath)})\n`);
      const signal = await Promise.race([once(process, 'SIGTERM').then(() => 'SIGTERM'), once(process, 'SIGINT').then(() => 'SIGINT')]);
      this.context.stdout.write(`${signal}: shutting down\n`);
      closeConnections(); // the idle SSH connections; runs ending from now on close theirs
      // Stop accepting first; running deploys get DEPLOY_SHUTDOWN_TIMEOUT to finish, then are cancelled.
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await executor.shutdown(config.shutdownTimeoutMs);
      // Pushes still resolving stay recorded as such (the executor refuses them now): the next start resolves them.
      await pushes.settled();
      await notifier.drain(5000); // the last runs' notifications, a few seconds at most
      server.closeAllConnections();
      await closed;
      logger.flush();
    } finally {
      closeConnections(); // idempotent: also when serving failed
      await pruning?.stop();
      await orm.close();
      await tracing?.shutdown();
    }
  }
}

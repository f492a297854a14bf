import express, { type Express } from 'express';
import type { MikroORM } from '@mikro-orm/sqlite';
import type { Config } from '../config.ts';

export interface AppDeps {
  orm: MikroORM;
  config: Config;
  startedAt?: Date;
}

/** The HTTP API, built from explicit dependencies so that tests and `serve` share it. */
export function createApp({ orm, startedAt = new Date() }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/api/health', async (_req, res) => {
    const database = await orm.isConnected();
    res.status(database ? 200 : 503).json({
      status: database ? 'ok' : 'degraded',
      database: database ? 'ok' : 'unreachable',
      uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
    });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'no such route' });
  });
  return app;
}

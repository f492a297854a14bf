// Deploy freezes over HTTP: list (read), lock and unlock (write token). The rules are domain/locks.ts.
import { Router, type RequestHandler } from 'express';
import type { MikroORM } from '../db/orm.ts';
import * as v from 'valibot';
import { listLocks, lockTarget, unlockTarget } from '../domain/locks.ts';
import { describeBodyIssue, HOST_NAME, parseBody, queryHost } from './params.ts';

const LockBody = v.strictObject(
  {
    host: v.optional(v.pipe(v.string('host must be a string'), v.regex(HOST_NAME, 'host must be one host name'))),
    reason: v.string('reason is required (a string)'),
    for: v.optional(v.string('for must be a duration like "2h"')),
  },
  describeBodyIssue('a JSON object with a "reason"'),
);

export function createLockRoutes(deps: { orm: MikroORM; auth: RequestHandler; json: RequestHandler; readAuth: RequestHandler }): Router {
  const { orm, auth, json, readAuth } = deps;
  const router = Router();

  router.get('/api/locks', readAuth, async (_req, res) => {
    res.json(await listLocks(orm.em.fork()));
  });

  /** `{"reason", "host"?, "for"?}`: 201 with the lock; who locked it is "api". */
  router.post('/api/locks/:app', auth, json, async (req, res) => {
    res.status(201).json(await lockTarget(orm.em.fork(), { ...parseBody(LockBody, req.body), app: String(req.params.app), by: 'api' }));
  });

  /** `?host=H`: that host's lock; without: every lock of the app. 404 when none held. */
  router.delete('/api/locks/:app', auth, async (req, res) => {
    res.json({ unlocked: await unlockTarget(orm.em.fork(), String(req.params.app), queryHost(req)) });
  });

  return router;
}

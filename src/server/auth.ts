import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * With a token configured, the request needs `Authorization: Bearer <token>`. Both sides are hashed
 * first so that the comparison takes the same time whatever the length or content of the guess.
 * Without one, the routes it guards are refused (they run build commands and deploys), unless the
 * server was started with --insecure-api.
 */
export function requireBearerToken(token: string | undefined, allowWithoutToken = false): RequestHandler {
  if (!token && allowWithoutToken) return (_req, _res, next) => next();
  if (!token) {
    return (_req, res) => {
      res.status(401).json({ error: 'the API write routes are disabled: set DEPLOY_API_TOKEN (or start serve with --insecure-api)' });
    };
  }
  const expected = digest(token);
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (match && timingSafeEqual(digest(match[1]), expected)) return next();
    res.status(401).json({ error: match ? 'bad bearer token' : 'missing bearer token: send Authorization: Bearer <DEPLOY_API_TOKEN>' });
  };
}

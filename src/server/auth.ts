import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * With a token configured, the request needs `Authorization: Bearer <token>`. Both sides are hashed
 * first so that the comparison takes the same time whatever the length or content of the guess.
 */
export function requireBearerToken(token: string | undefined): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  const expected = digest(token);
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (match && timingSafeEqual(digest(match[1]), expected)) return next();
    res.status(401).json({ error: match ? 'bad bearer token' : 'missing bearer token: send Authorization: Bearer <DEPLOY_API_TOKEN>' });
  };
}

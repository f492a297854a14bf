import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The request needs `Authorization: Bearer <one of tokens>`. Both sides are hashed first so that the
 * comparison takes the same time whatever the length or content of the guess, and every token is
 * compared (no early exit telling which one came close). Without any token configured the routes it
 * guards are refused (they run build commands and deploys, or show what targets hold), unless the
 * server was started with --insecure-api.
 */
export function requireBearerToken(
  tokens: readonly (string | undefined)[],
  options: { allowWithoutToken?: boolean; what: string; variables: string },
): RequestHandler {
  const configured = tokens.filter((token): token is string => Boolean(token));
  if (configured.length === 0 && options.allowWithoutToken) return (_req, _res, next) => next();
  if (configured.length === 0) {
    return (_req, res) => {
      res.status(401).json({ error: `the API ${options.what} routes are disabled: set ${options.variables} (or start serve with --insecure-api)` });
    };
  }
  const expected = configured.map(digest);
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const given = match ? digest(match[1]) : undefined;
    const ok = given ? expected.map((token) => timingSafeEqual(given, token)).some(Boolean) : false;
    if (ok) return next();
    res.status(401).json({ error: match ? 'bad bearer token' : `missing bearer token: send Authorization: Bearer <${options.variables.split(' or ')[0]}>` });
  };
}

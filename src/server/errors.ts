// Domain errors to HTTP statuses: the one place that knows both.
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ExecutorClosedError, RunNotFoundError } from '../engine/executor.ts';
import { InvalidPushError } from '../domain/push-payload.ts';
import { InvalidTargetError } from '../domain/target-schema.ts';
import { UnknownTargetError } from '../domain/targets.ts';
import { InvalidLockError, NoLockError, TargetLockedError } from '../domain/locks.ts';

/** An error that is the client's doing: its status and message go back as `{ "error": … }`. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (error instanceof InvalidTargetError || error instanceof InvalidPushError || error instanceof InvalidLockError) return 400;
  if (error instanceof UnknownTargetError || error instanceof RunNotFoundError || error instanceof NoLockError) return 404;
  if (error instanceof ExecutorClosedError || error instanceof TargetLockedError) return 409;
  // body-parser: too large, unparsable JSON
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.too.large') return 413;
  if (type === 'entity.parse.failed') return 400;
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

function messageOf(error: unknown): string {
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.too.large') return 'request body too large';
  if (type === 'entity.parse.failed') return 'the body is not valid JSON';
  return (error as Error).message.split('\n')[0];
}

/** `{ "error": "<one line>" }` with the error's status; a 500 says only "internal error". */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const status = statusOf(error);
    // Only the error's name: a database error's message carries the SQL and its values (env, say).
    if (status >= 500) logger.error({ method: req.method, path: req.path, err: { name: (error as Error)?.name } }, 'request failed');
    if (res.headersSent) return res.end();
    res.status(status).json({ error: status >= 500 ? 'internal error' : messageOf(error) });
  };
}

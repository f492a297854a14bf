// Reading what a request carries (bodies, ?limit, ?host, run ids) into values or a 400: shared by
// every router.
import type { Request } from 'express';
import * as v from 'valibot';
import { HttpError } from './errors.ts';

/** A host name as a target names it: no empty or repeated value may widen a request to every host. */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The message of a strictObject body's issue: an unknown field by name, else what the body must be. */
export function describeBodyIssue(shape = 'a JSON object') {
  return (issue: v.BaseIssue<unknown>) => (issue.expected === 'never' ? `unknown field "${String(issue.path?.[0]?.key)}"` : `the body must be ${shape}`);
}

export function parseBody<T extends v.GenericSchema>(schema: T, input: unknown): v.InferOutput<T> {
  const result = v.safeParse(schema, input ?? {});
  if (!result.success) throw new HttpError(400, result.issues[0].message);
  return result.output;
}

/** `?limit=`: absent (20), or a whole number from 1 to `max`. */
export function parseLimit(raw: unknown, max = 200): number {
  if (raw === undefined) return 20;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new HttpError(400, `limit must be a whole number from 1 to ${max}`);
  }
  return Number(raw);
}

/** `?host=`: absent, or exactly one host name. */
export function queryHost(req: Request): string | undefined {
  const raw = req.query.host;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !HOST_NAME.test(raw)) throw new HttpError(400, 'host must be one host name');
  return raw;
}

export function parseRunId(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new HttpError(400, `run id must be a number (got "${raw}")`);
  return Number(raw);
}

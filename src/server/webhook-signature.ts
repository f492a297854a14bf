// Who sent a webhook: the HMAC signature headers of Gitea, Forgejo, Gogs and GitHub, and the event name.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where the HMAC may arrive, in the order we look. Gitea and Forgejo send several of these with the
 * same value; the first one present decides, so a bad signature can't be outvoted by a second header.
 */
const SIGNATURE_HEADERS: readonly { name: string; prefix: string }[] = [
  { name: 'x-gitea-signature', prefix: '' },
  { name: 'x-forgejo-signature', prefix: '' },
  { name: 'x-gogs-signature', prefix: '' },
  { name: 'x-hub-signature-256', prefix: 'sha256=' },
];

const EVENT_HEADERS = ['x-gitea-event', 'x-forgejo-event', 'x-gogs-event', 'x-github-event'] as const;

/** Gitea sends lowercase hex; Buffer.from(…, 'hex') would silently drop anything else, so check first. */
const HMAC_HEX = /^[0-9a-f]{64}$/;

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** HMAC-SHA256 (hex) of the raw body, constant-time compared with the first signature header present. */
export function verifySignature(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string): boolean {
  // An empty secret is one anybody can sign with: treat it as no way to verify at all.
  if (secret === '') return false;
  const header = SIGNATURE_HEADERS.find(({ name }) => firstHeader(headers, name) !== undefined);
  if (!header) return false;
  const value = firstHeader(headers, header.name)!;
  if (!value.startsWith(header.prefix)) return false;
  const hex = value.slice(header.prefix.length);
  if (!HMAC_HEX.test(hex)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The event name from X-Gitea-Event / X-Forgejo-Event / X-Gogs-Event / X-GitHub-Event, or undefined. */
export function eventName(headers: IncomingHttpHeaders): string | undefined {
  for (const name of EVENT_HEADERS) {
    const value = firstHeader(headers, name);
    if (value) return value;
  }
  return undefined;
}

const DELIVERY_HEADERS = ['x-gitea-delivery', 'x-forgejo-delivery', 'x-gogs-delivery', 'x-github-delivery'] as const;

/** The sender's id of this delivery (a UUID), when it sends a sane one: replays of it are recognised. */
export function deliveryId(headers: IncomingHttpHeaders): string | undefined {
  for (const name of DELIVERY_HEADERS) {
    const value = firstHeader(headers, name);
    if (value) return /^[A-Za-z0-9._-]{1,100}$/.test(value) ? value : undefined;
  }
  return undefined;
}

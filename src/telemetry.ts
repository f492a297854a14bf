import { SpanStatusCode, isSpanContextValid, type Span } from '@opentelemetry/api';

/** Span attribute keys: one place, so every span and every test agrees on them. */
export const ATTR = {
  app: 'deploy.app',
  host: 'deploy.host',
  strategy: 'deploy.strategy',
  trigger: 'deploy.trigger',
  step: 'deploy.step',
  runId: 'deploy.run_id',
  ref: 'vcs.ref',
  revision: 'vcs.revision',
} as const;

/** Ends a span with the outcome of the work it covered; the message is already free of secrets. */
export function endSpan(span: Span, error?: { message: string; name?: string }): void {
  if (error) {
    span.recordException({ name: error.name ?? 'Error', message: error.message });
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  }
  span.end();
}

/** The trace id worth storing: none when tracing is off (the no-op tracer's spans carry an invalid context). */
export function traceIdOf(span: Span): string | null {
  const context = span.spanContext();
  return isSpanContextValid(context) ? context.traceId : null;
}

import { SpanStatusCode, isSpanContextValid, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';

/** Span attribute keys: one place, so every span and every test agrees on them. */
export const ATTR = {
  app: 'deploy.app',
  host: 'deploy.host',
  strategy: 'deploy.strategy',
  trigger: 'deploy.trigger',
  step: 'deploy.step',
  runId: 'deploy.run_id',
  command: 'deploy.command',
  exitCode: 'process.exit.code',
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

/**
 * Runs `work` inside a child span of `parent`: the span ends when the work does, with the exception
 * recorded and an error status if it throws. `work` may add attributes (an exit code, say).
 */
export async function withSpan<T>(
  tracer: Tracer,
  name: string,
  parent: Context,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
  redact: (text: string) => string = (text) => text,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes }, parent);
  try {
    return await work(span);
  } catch (error) {
    const message = redact(error instanceof Error ? error.message : String(error));
    endSpan(span, { message, name: error instanceof Error ? error.name : 'Error' });
    throw error;
  } finally {
    if (span.isRecording()) span.end();
  }
}


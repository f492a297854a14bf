import type { Tracer } from '@opentelemetry/api';

export interface Tracing {
  tracer: Tracer;
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Tracing is on when the standard variables ask for an OTLP exporter (and OTEL_SDK_DISABLED does not say no). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) || env.OTEL_TRACES_EXPORTER === 'otlp';
}

/** Loads the SDK from otel/ only when asked: without it, no SDK module is even imported. */
export async function loadTracing(env: NodeJS.ProcessEnv): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const { startTracing } = await import('../../otel/tracing.ts');
  return startTracing(env);
}

/** `<DEPLOY_JAEGER_URL>/trace/<id>`, or null. */
export function traceUrl(jaegerUrl: string | undefined, traceId: string | null | undefined): string | null {
  return jaegerUrl && traceId ? `${jaegerUrl.replace(/\/+$/, '')}/trace/${traceId}` : null;
}

// The OpenTelemetry SDK: loaded (by src/tracing.ts) only when tracing is asked for through the
// standard OTEL_* variables. src/ itself only ever talks to @opentelemetry/api.
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface Tracing {
  tracer: Tracer;
  /** Sends what is buffered and stops; never waits longer than `timeoutMs` (a dead collector must not hold up an exit). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
function tracesUrl(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

export function startTracing(env: NodeJS.ProcessEnv): Tracing {
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector) override these defaults.
  const resource = resourceFromAttributes({ 'service.name': 'deploy_server' }).merge(detectResources({ detectors: [envDetector] }));
  const exporter = new OTLPTraceExporter({ url: tracesUrl(env), timeoutMillis: 5000 });
  // Spans leave in the background, in batches: an unreachable collector costs a deploy nothing.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })] });
  return {
    tracer: provider.getTracer('deploy_server'),
    async shutdown(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([provider.shutdown().catch(() => undefined), deadline]);
      clearTimeout(timer);
    },
  };
}

// The scorer's Prometheus metrics: defined once, with bounded label sets (routes are names, not paths).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Route = 'v2_infer' | 'v1_predict' | 'v2_metadata' | 'health' | 'metrics' | 'other';

export class ScoringMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'orchard_scoring_requests_total', help: 'Requests by route and HTTP status code.', labelNames: ['route', 'code'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'orchard_scoring_request_duration_seconds',
    help: 'Time from request to response, by route and status code.',
    labelNames: ['route', 'code'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly batchRows = new Histogram({
    name: 'orchard_scoring_batch_rows',
    help: 'Rows per onnxruntime run, after coalescing concurrent requests.',
    labelNames: ['version'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
    registers: [this.registry],
  });
  readonly rows = new Counter({ name: 'orchard_scoring_rows_total', help: 'Rows scored, by model version.', labelNames: ['version'], registers: [this.registry] });
  readonly predictions: Histogram<'version'>;
  readonly modelInfo = new Gauge({ name: 'orchard_model_info', help: 'Model versions loaded: 1 per version and role (champion or challenger).', labelNames: ['model', 'version', 'role'], registers: [this.registry] });
  readonly driftDropped = new Counter({ name: 'orchard_drift_rows_dropped_total', help: 'Scored rows not delivered to the drift monitor (buffer full or monitor unreachable).', labelNames: ['reason'], registers: [this.registry] });
  readonly driftSent = new Counter({ name: 'orchard_drift_rows_sent_total', help: 'Scored rows delivered to the drift monitor.', registers: [this.registry] });

  /** `predictionBuckets`: the training predictions' quantile edges when known, so the histogram reads like the reference. */
  constructor(predictionBuckets?: number[]) {
    this.predictions = new Histogram({
      name: 'orchard_scoring_prediction',
      help: 'Predictions served: the value (regression) or the positive-class probability (binary) or the predicted class index (multiclass).',
      labelNames: ['version'],
      buckets: predictionBuckets?.length ? predictionBuckets : [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
      registers: [this.registry],
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'orchard_scorer_' });
  }

  // Label children are looked up once per label set: hashing labels on every request shows in profiles.
  private readonly requestChildren = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  private readonly versionChildren = new Map<number, { rows: { inc(n: number): void }; predictions: { observe(v: number): void } }>();

  observeRequest(route: Route, status: number, seconds: number): void {
    const key = `${route} ${status}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      const labels = { route, code: String(status) };
      c = { count: this.requests.labels(labels), latency: this.latency.labels(labels) };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.latency.observe(seconds);
  }

  forVersion(version: number) {
    let c = this.versionChildren.get(version);
    if (!c) {
      const labels = { version: String(version) };
      c = { rows: this.rows.labels(labels), predictions: this.predictions.labels(labels) };
      this.versionChildren.set(version, c);
    }
    return c;
  }
}

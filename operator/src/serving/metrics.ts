// The scorer's Prometheus metrics: defined once, with bounded label sets (routes are names, not paths).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Route = 'v2_infer' | 'v1_predict' | 'v2_metadata' | 'health' | 'metrics' | 'other';

export class ScoringMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'orchard_scoring_requests_total',
    help: 'Requests by route and HTTP status code; 499: the client closed the connection before the answer.',
    labelNames: ['route', 'code'],
    registers: [this.registry],
  });
  readonly connectionsDropped = new Counter({
    name: 'orchard_scoring_connections_dropped_total',
    help: 'Connections closed on arrival because the scorer already held its maximum of open connections.',
    registers: [this.registry],
  });
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
  readonly predictions: BatchHistogram;
  readonly modelInfo = new Gauge({ name: 'orchard_model_info', help: 'Model versions loaded: 1 per version and role (champion or challenger).', labelNames: ['model', 'version', 'role'], registers: [this.registry] });
  readonly driftDropped = new Counter({ name: 'orchard_drift_rows_dropped_total', help: 'Scored rows not delivered to the drift monitor (monitor unreachable or answering errors).', labelNames: ['reason'], registers: [this.registry] });
  readonly driftSuperseded = new Counter({
    name: 'orchard_drift_rows_superseded_total',
    help: "Scored rows counted but not sent: newer rows filled the monitor's whole window before the next send, so it would have evicted them on arrival.",
    registers: [this.registry],
  });
  readonly driftSent = new Counter({ name: 'orchard_drift_rows_sent_total', help: 'Scored rows delivered to the drift monitor.', registers: [this.registry] });

  /** `predictionBuckets`: the training predictions' quantile edges when known, so the histogram reads like the reference. */
  constructor(predictionBuckets?: number[]) {
    this.predictions = new BatchHistogram(
      'orchard_scoring_prediction',
      'Predictions served: the value (regression) or the positive-class probability (binary) or the predicted class index (multiclass).',
      predictionBuckets?.length ? predictionBuckets : [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
      this.registry,
    );
    collectDefaultMetrics({ register: this.registry, prefix: 'orchard_scorer_' });
  }

  // Label children are looked up once per label set: hashing labels on every request shows in profiles.
  private readonly requestChildren = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  private readonly versionChildren = new Map<number, { rows: { inc(n: number): void }; predictions: (values: ArrayLike<number>) => void }>();

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
      c = { rows: this.rows.labels(labels), predictions: this.predictions.recorder(labels) };
      this.versionChildren.set(version, c);
    }
    return c;
  }
}

/**
 * A Prometheus histogram filled a batch at a time: one bucket search per value and no label
 * hashing, where prom-client's observe() hashes labels on every call (per scored row, it shows).
 * Exposed exactly as prom-client exposes a histogram.
 */
export class BatchHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** A series' recorder: call with values (NaN and infinities are skipped, as prom-client refuses them). */
  recorder(labels: Record<string, string>): (values: ArrayLike<number>) => void {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.bounds;
    return (values) => {
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (!Number.isFinite(v)) continue;
        let lo = 0;
        let hi = bounds.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (v <= bounds[mid]!) hi = mid;
          else lo = mid + 1;
        }
        series.counts[lo]!++;
        series.sum += v;
        series.count++;
      }
    };
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}

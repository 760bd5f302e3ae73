// The operator's Prometheus metrics, defined once. Labels are bounded: controller and result, never object names.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'orchard_reconcile_total', help: 'Reconcile passes by controller and result (success, requeue, error, terminal).', labelNames: ['controller', 'result'], registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'orchard_reconcile_duration_seconds',
    help: 'Time of one reconcile pass.',
    labelNames: ['controller'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'orchard_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'], registers: [this.registry] });
  readonly apiWrites = new Counter({ name: 'orchard_api_writes_total', help: 'Writes to the API server by controller and verb.', labelNames: ['controller', 'verb'], registers: [this.registry] });
  readonly childRejections = new Counter({
    name: 'orchard_child_rejections_total',
    help: 'Child writes the API server refused for good (400, 422, or an admission denial), by controller and child kind; each refused body is sent once.',
    labelNames: ['controller', 'kind'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'orchard_leader', help: '1 while this replica holds the leader lease.', registers: [this.registry] });
}

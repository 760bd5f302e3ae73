// Wiring: informers → controllers. Events only enqueue keys; reconcilers read the caches.
import { API_VERSION } from './api/v1alpha1/common.js';
import { RegisteredModelReconciler, CONTROLLER as REGISTERED_MODEL } from './controllers/registered-model/reconciler.js';
import { TrainingRunReconciler, CONTROLLER as TRAINING_RUN } from './controllers/training-run/reconciler.js';
import { LABELS, type TrainingDefaults } from './controllers/training-run/desired.js';
import type { k8s } from './kube/client.js';
import { makeInformer, type Informer } from './kube/informer.js';
import { Controller, objectKey } from './runtime/controller.js';
import { apiEventRecorder, type EventRecorder } from './runtime/events.js';
import type { Logger } from './runtime/log.js';
import type { OperatorMetrics } from './runtime/metrics.js';

export interface OperatorOptions {
  kc: k8s.KubeConfig;
  /** Watch one namespace only; all namespaces when unset. */
  namespace?: string;
  defaults: TrainingDefaults;
  log: Logger;
  metrics?: OperatorMetrics;
  workers?: number;
  now?: () => Date;
  record?: EventRecorder;
}

export interface RunningOperator {
  informers: Informer[];
  controllers: Controller[];
  /** True once every cache has listed. */
  synced(): boolean;
  done: Promise<void>;
}

/** Starts the caches and controllers; they stop when the signal aborts. */
export async function startOperator(options: OperatorOptions, signal: AbortSignal): Promise<RunningOperator> {
  const { kc, log, metrics } = options;
  const scope = options.namespace ? `/namespaces/${options.namespace}` : '';
  const onError = (what: string) => (err: unknown, retryInMs: number) => log.error('watch failed; restarting', { informer: what, err, retryInMs });
  const managed = `${LABELS.managedBy}=orchard`;
  const runs = makeInformer<any>(kc, `/apis/${API_VERSION}${scope}/trainingruns`, { onError: onError('trainingruns') });
  const models = makeInformer<any>(kc, `/apis/${API_VERSION}${scope}/registeredmodels`, { onError: onError('registeredmodels') });
  const jobs = makeInformer<any>(kc, `/apis/batch/v1${scope}/jobs`, { labelSelector: managed, onError: onError('jobs') });
  const pods = makeInformer<any>(kc, `/api/v1${scope}/pods`, { labelSelector: managed, onError: onError('pods') });
  const informers = [runs, models, jobs, pods];

  const now = options.now ?? (() => new Date());
  const record = options.record ?? apiEventRecorder(kc, 'orchard-operator');
  const reconciler = new TrainingRunReconciler({
    kc,
    runs,
    models,
    jobs,
    pods,
    defaults: options.defaults,
    now,
    log,
    record,
    ...(metrics ? { metrics } : {}),
  });
  const modelReconciler = new RegisteredModelReconciler({ kc, models, now, log, record, ...(metrics ? { metrics } : {}) });
  const registeredModels = new Controller({ name: REGISTERED_MODEL, reconcile: (key) => modelReconciler.reconcile(key), workers: options.workers ?? 4, log, ...(metrics ? { metrics } : {}) });
  const trainingRuns = new Controller({ name: TRAINING_RUN, reconcile: (key) => reconciler.reconcile(key), workers: options.workers ?? 4, log, ...(metrics ? { metrics } : {}) });

  const enqueueRun = (obj: any) => trainingRuns.enqueue(objectKey(obj));
  const enqueueByLabel = (obj: any) => {
    const run = obj.metadata?.labels?.[LABELS.trainingRun];
    if (run) trainingRuns.enqueue(`${obj.metadata.namespace}/${run}`);
  };
  // A model appearing or changing can unblock runs waiting for it or registering into it.
  const enqueueRunsOfModel = (model: any) => {
    for (const run of runs.list(model.metadata.namespace)) if (run.spec?.modelRef?.name === model.metadata.name) enqueueRun(run);
  };
  for (const event of ['add', 'update', 'delete'] as const) {
    runs.on(event, enqueueRun);
    jobs.on(event, enqueueByLabel);
    pods.on(event, enqueueByLabel);
    models.on(event, enqueueRunsOfModel);
    models.on(event, (model: any) => registeredModels.enqueue(objectKey(model)));
  }

  await Promise.all(informers.map((i) => i.start()));
  log.info('caches synced', { informers: informers.length, namespace: options.namespace ?? '(all)' });
  const done = Promise.all([trainingRuns.run(signal), registeredModels.run(signal)])
    .then(() => undefined)
    .finally(() => informers.forEach((i) => i.stop()));
  return { informers, controllers: [trainingRuns, registeredModels], synced: () => informers.every((i) => i.synced()), done };
}

// Wiring: informers → controllers. Events only enqueue keys; reconcilers read the caches.
import type { Storage } from '@google-cloud/storage';
import { API_VERSION } from './api/v1alpha1/common.js';
import { RegisteredModelReconciler, CONTROLLER as REGISTERED_MODEL } from './controllers/registered-model/reconciler.js';
import { ScoringJobReconciler, CONTROLLER as SCORING_JOB } from './controllers/scoring-job/reconciler.js';
import { TrainingRunReconciler, CONTROLLER as TRAINING_RUN } from './controllers/training-run/reconciler.js';
import { LABELS as SCORING_LABELS, type ScoringDefaults } from './controllers/scoring-job/desired.js';
import { LABELS, type TrainingDefaults } from './controllers/training-run/desired.js';
import type { ServingDefaults } from './controllers/registered-model/serving.js';
import { RETRAIN_LABEL } from './controllers/registered-model/retrain.js';
import { httpDriftReader } from './controllers/registered-model/drift-reader.js';
import { makeStorage } from './artifacts/gcs.js';
import { readArtifact } from './artifacts/store.js';
import { ProfileCache } from './drift/profiles.js';
import type { k8s } from './kube/client.js';
import { makeInformer, type Informer } from './kube/informer.js';
import { Controller, objectKey, ownerKey, retryAfterOutage } from './runtime/controller.js';
import { apiEventRecorder, type EventRecorder } from './runtime/events.js';
import type { Logger } from './runtime/log.js';
import type { OperatorMetrics } from './runtime/metrics.js';

export interface OperatorOptions {
  kc: k8s.KubeConfig;
  /** Watch one namespace only; all namespaces when unset. */
  namespace?: string;
  defaults: TrainingDefaults;
  /** Scoring Pods (image, ServiceAccount, default autoscaling); image defaults to the training image. */
  serving?: ServingDefaults;
  /** Reading the scoring Pods' drift monitors: how often, and where a Pod's monitor answers (tests). */
  drift?: { pollSeconds?: number; timeoutMs?: number; urlFor?: (pod: any) => string | undefined };
  /** Batch scoring Jobs; the training defaults' image, ServiceAccount, backoffLimit and resources when unset. */
  scoringDefaults?: ScoringDefaults;
  /** Cloud Storage client for reading gs:// shard summaries; made on first use when unset. */
  gcs?: Storage;
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
  // Keys whose passes failed while the API server was away are retried as soon as it is back,
  // not after their backoff (which grows to minutes over a long outage).
  const controllers: Controller[] = [];
  const hooks = retryAfterOutage(controllers, log);
  const watching = (what: string, options: { labelSelector?: string } = {}) => ({ ...options, ...hooks(what) });
  const managed = { labelSelector: `${LABELS.managedBy}=orchard` };
  const runs = makeInformer<any>(kc, `/apis/${API_VERSION}${scope}/trainingruns`, watching('trainingruns'));
  const models = makeInformer<any>(kc, `/apis/${API_VERSION}${scope}/registeredmodels`, watching('registeredmodels'));
  const jobs = makeInformer<any>(kc, `/apis/batch/v1${scope}/jobs`, watching('jobs', managed));
  const pods = makeInformer<any>(kc, `/api/v1${scope}/pods`, watching('pods', managed));
  const deployments = makeInformer<any>(kc, `/apis/apps/v1${scope}/deployments`, watching('deployments', managed));
  const services = makeInformer<any>(kc, `/api/v1${scope}/services`, watching('services', managed));
  const autoscalers = makeInformer<any>(kc, `/apis/autoscaling/v2${scope}/horizontalpodautoscalers`, watching('horizontalpodautoscalers', managed));
  const scoringJobs = makeInformer<any>(kc, `/apis/${API_VERSION}${scope}/scoringjobs`, watching('scoringjobs'));
  const informers = [runs, models, jobs, pods, deployments, services, autoscalers, scoringJobs];

  const now = options.now ?? (() => new Date());
  let gcs: Storage | undefined;
  const record = options.record ?? apiEventRecorder(kc, 'orchard-operator', log);
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
  const scoringReconciler = new ScoringJobReconciler({
    kc,
    scoringJobs,
    models,
    jobs,
    pods,
    defaults: options.scoringDefaults ?? options.defaults,
    now,
    log,
    record,
    ...(metrics ? { metrics } : {}),
    ...(options.gcs ? { gcs: options.gcs } : {}),
  });
  const modelReconciler = new RegisteredModelReconciler({
    kc,
    models,
    runs,
    deployments,
    services,
    autoscalers,
    serving: options.serving ?? { image: options.defaults.image },
    readDrift: httpDriftReader({
      pods,
      profiles: new ProfileCache((uri) => readArtifact(uri, 'reference-profile.json', uri.startsWith('gs://') ? { gcs: (gcs ??= options.gcs ?? makeStorage()) } : {})),
      now,
      log,
      ...(options.drift?.timeoutMs ? { timeoutMs: options.drift.timeoutMs } : {}),
      ...(options.drift?.urlFor ? { urlFor: options.drift.urlFor } : {}),
    }),
    driftPollSeconds: options.drift?.pollSeconds ?? 60,
    now,
    log,
    record,
    ...(metrics ? { metrics } : {}),
  });
  const registeredModels = new Controller({ name: REGISTERED_MODEL, reconcile: (key) => modelReconciler.reconcile(key), workers: options.workers ?? 4, log, ...(metrics ? { metrics } : {}) });
  const trainingRuns = new Controller({ name: TRAINING_RUN, reconcile: (key) => reconciler.reconcile(key), workers: options.workers ?? 4, log, ...(metrics ? { metrics } : {}) });
  const scoring = new Controller({ name: SCORING_JOB, reconcile: (key) => scoringReconciler.reconcile(key), workers: options.workers ?? 4, log, ...(metrics ? { metrics } : {}) });
  controllers.push(trainingRuns, registeredModels, scoring);

  const enqueueRun = (obj: any) => trainingRuns.enqueue(objectKey(obj));
  const enqueueOwner = (obj: any, kind: string, controller: Controller) => {
    const key = ownerKey(obj, kind);
    if (key) controller.enqueue(key);
  };
  const enqueueByLabel = (obj: any) => {
    const run = obj.metadata?.labels?.[LABELS.trainingRun];
    if (run) trainingRuns.enqueue(`${obj.metadata.namespace}/${run}`);
  };
  const enqueueScoringByLabel = (obj: any) => {
    const owner = obj.metadata?.labels?.[SCORING_LABELS.scoringJob];
    if (owner) scoring.enqueue(`${obj.metadata.namespace}/${owner}`);
  };
  // A model appearing or changing can unblock runs waiting for it or registering into it, and
  // scoring jobs waiting for it, its version or its alias.
  const enqueueRunsOfModel = (model: any) => {
    for (const run of runs.list(model.metadata.namespace)) if (run.spec?.modelRef?.name === model.metadata.name) enqueueRun(run);
    for (const sj of scoringJobs.list(model.metadata.namespace)) if (sj.spec?.modelRef?.name === model.metadata.name) scoring.enqueue(objectKey(sj));
  };
  for (const event of ['add', 'update', 'delete'] as const) {
    runs.on(event, enqueueRun);
    jobs.on(event, enqueueByLabel);
    pods.on(event, enqueueByLabel);
    scoringJobs.on(event, (sj: any) => scoring.enqueue(objectKey(sj)));
    jobs.on(event, enqueueScoringByLabel);
    pods.on(event, enqueueScoringByLabel);
    models.on(event, enqueueRunsOfModel);
    models.on(event, (model: any) => registeredModels.enqueue(objectKey(model)));
    for (const child of [deployments, services, autoscalers]) child.on(event, (obj: any) => enqueueOwner(obj, 'RegisteredModel', registeredModels));
    // A retrain run appearing or going changes the model's cool-down.
    runs.on(event, (run: any) => {
      const model = run.metadata?.labels?.[RETRAIN_LABEL];
      if (model) registeredModels.enqueue(`${run.metadata.namespace}/${model}`);
    });
  }

  await Promise.all(informers.map((i) => i.start()));
  log.info('caches synced', { informers: informers.length, namespace: options.namespace ?? '(all)' });
  const done = Promise.all([trainingRuns.run(signal), registeredModels.run(signal), scoring.run(signal)])
    .then(() => undefined)
    .finally(() => informers.forEach((i) => i.stop()));
  return { informers, controllers, synced: () => informers.every((i) => i.synced()), done };
}

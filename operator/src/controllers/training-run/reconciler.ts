// The only I/O of the TrainingRun controller: read from caches, create the Job, register the
// version, write status once per pass and only when it changed.
import { API_VERSION, describeIssue } from '../../api/v1alpha1/common.js';
import { DEFAULT_PRIMARY_METRIC, trainingRunSpec, type TrainingRunStatus } from '../../api/v1alpha1/training-run.js';
import type { RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { k8s, requestJson } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.js';
import { ChildRejections, type ChildRejection } from '../../runtime/rejections.js';
import { jsonEqual } from '../../runtime/equal.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Result } from '../../runtime/controller.js';
import type { Logger } from '../../runtime/log.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import { registerVersion, versionOfRun } from '../registered-model/versions.js';
import { buildTrainingJob, trainingJobName, type TrainingDefaults, type TrainingRunObject } from './desired.js';
import { computeTrainingRunStatus, metricTable, parseSummary } from './status.js';

export const CONTROLLER = 'trainingrun';
const GROUP_PATH = `/apis/${API_VERSION}`;
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';

export interface TrainingRunDeps {
  kc: k8s.KubeConfig;
  runs: Informer;
  models: Informer;
  jobs: Informer;
  pods: Informer;
  defaults: TrainingDefaults;
  now: () => Date;
  log: Logger;
  record: EventRecorder;
  metrics?: OperatorMetrics;
}

export class TrainingRunReconciler {
  private readonly rejections: ChildRejections;
  /** Keys whose Job exists (created or met by this process) but the Job cache has not shown yet. */
  private readonly unseenJobs = new Set<string>();

  constructor(private readonly deps: TrainingRunDeps) {
    this.rejections = new ChildRejections(CONTROLLER, deps.metrics);
  }

  async reconcile(key: string): Promise<Result | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const { runs, models, jobs, pods, now } = this.deps;
    const raw = runs.get(name, namespace);
    // Gone or going: owner references let the garbage collector remove the Job and its Pods.
    if (!raw || raw.metadata.deletionTimestamp) {
      this.rejections.forget(key);
      this.unseenJobs.delete(key);
      return;
    }
    const previous = raw.status as TrainingRunStatus | undefined;
    const generation = raw.metadata.generation ?? 0;

    const parsed = trainingRunSpec.safeParse(raw.spec);
    if (!parsed.success) {
      const status = computeTrainingRunStatus({ generation, previous, invalidSpec: describeIssue(parsed.error), modelName: '', modelExists: false, pods: [], now: now() });
      await this.writeStatus(raw, status);
      return; // an invalid spec does not fix itself: no retry until it changes
    }
    const run: TrainingRunObject = { ...raw, spec: parsed.data };
    const modelName = run.spec.modelRef.name;
    const model = models.get(modelName, namespace);
    const jobName = trainingJobName(run);
    let job = jobs.get(jobName, namespace);
    if (job) this.unseenJobs.delete(key);
    // A lagging cache: read the Job rather than POST it again (each POST may be charged to a quota).
    else if (this.unseenJobs.has(key)) job = await this.readJob(key, namespace, jobName);
    if (job && !isOwnedBy(job, run.metadata.uid)) {
      throw new Error(`Job ${namespace}/${jobName} exists but belongs to something else: delete it or rename the TrainingRun`);
    }

    // A finished run's status is its record: the Job and Pods it was read from may go (the TTL
    // controller removes them Pods first), and the run is never trained again.
    if (isFinished(previous)) return;
    // Training starts once the model exists: a typo in modelRef should not cost a training run.
    let rejected: ChildRejection | undefined;
    if (!job && model) {
      const outcome = await this.createJob(key, run, championOf(model));
      if ('rejected' in outcome) rejected = outcome.rejected;
      else job = outcome.done.job;
      if (job && !isOwnedBy(job, run.metadata.uid)) {
        throw new Error(`Job ${namespace}/${jobName} exists but belongs to something else: delete it or rename the TrainingRun`);
      }
    }

    const runPods = job ? pods.list(namespace).filter((p) => p.metadata?.labels?.[JOB_NAME_LABEL] === jobName) : [];
    let registeredVersion = versionOfRun(model?.status as RegisteredModelStatus | undefined, run.metadata.uid);
    const complete = (job?.status?.conditions ?? []).some((c: any) => c.type === 'Complete' && c.status === 'True');
    if (complete && model && registeredVersion === undefined) {
      registeredVersion = await this.register(run, model, runPods);
    }

    const status = computeTrainingRunStatus({
      generation,
      previous,
      modelName,
      modelExists: model !== undefined,
      job,
      ...(rejected ? { rejected } : {}),
      pods: runPods,
      ...(registeredVersion !== undefined ? { registeredVersion } : {}),
      primaryMetric: run.spec.evaluation.primaryMetric ?? DEFAULT_PRIMARY_METRIC[run.spec.task],
      now: now(),
    });
    await this.writeStatus(raw, status);
    await this.recordTransition(raw, previous, status);
  }

  /** Creates the Job, unless the API server refused this very Job before (then says what it said). */
  private async createJob(key: string, run: TrainingRunObject, champion: { version: number; artifactUri: string } | undefined): Promise<{ done: { job: any; created: boolean } } | { rejected: ChildRejection }> {
    const job = buildTrainingJob(run, this.deps.defaults, champion);
    const { namespace } = run.metadata;
    // Only the create itself: an Event the server refuses is no verdict on the Job.
    const outcome = await this.rejections.attempt(key, 'Job', `Job ${namespace}/${job.metadata.name}`, job, async () => {
      try {
        const created = await requestJson(this.deps.kc, 'POST', `/apis/batch/v1/namespaces/${namespace}/jobs`, { body: job });
        this.unseenJobs.add(key);
        return { job: created, created: true };
      } catch (err) {
        // The cache was behind: the Job exists. This pass reads it, and so do the next ones until the cache shows it.
        if (!isAlreadyExists(err)) throw err;
        this.unseenJobs.add(key);
        return { job: await this.readJob(key, namespace, job.metadata.name), created: false };
      }
    });
    if ('done' in outcome && outcome.done.created) {
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'create' });
      await this.deps.record(eventTarget(run), 'Normal', 'JobCreated', `created Job ${job.metadata.name} to prepare, train, export and publish`);
    }
    return outcome;
  }

  /** The Job from the API server, for a pass whose cache has not shown it yet; gone means forgotten. */
  private async readJob(key: string, namespace: string, jobName: string): Promise<any> {
    try {
      return await requestJson(this.deps.kc, 'GET', `/apis/batch/v1/namespaces/${namespace}/jobs/${jobName}`);
    } catch (err) {
      if (!isNotFound(err)) throw new Error(`read Job ${namespace}/${jobName}`, { cause: err });
      this.unseenJobs.delete(key);
      return undefined;
    }
  }

  /** Appends the version to the model's status with optimistic concurrency; a 409 re-runs the pass. */
  private async register(run: TrainingRunObject, model: any, runPods: any[]): Promise<number | undefined> {
    const summary = parseSummary(runPods);
    if (!summary) return undefined;
    const { status, version, created } = registerVersion(
      model.status,
      {
        name: run.metadata.name,
        uid: run.metadata.uid,
        task: run.spec.task,
        metrics: metricTable(summary.metrics),
        artifactUri: summary.artifactUri,
        ...(summary.testDataFingerprint ? { testDataFingerprint: summary.testDataFingerprint } : {}),
        ...(summary.comparison ? { comparison: { version: summary.comparison.version, metrics: metricTable(summary.comparison.metrics) } } : {}),
      },
      this.deps.now(),
    );
    if (created) {
      const path = `${GROUP_PATH}/namespaces/${run.metadata.namespace}/registeredmodels/${model.metadata.name}/status`;
      await requestJson(this.deps.kc, 'PUT', path, { body: { ...model, status } });
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
      this.deps.log.info('registered version', { controller: CONTROLLER, namespace: run.metadata.namespace, name: run.metadata.name, model: model.metadata.name, version });
      await this.deps.record(eventTarget(run), 'Normal', 'Registered', `registered as version ${version} of ${model.metadata.name}`);
    }
    return version;
  }

  private async writeStatus(raw: any, status: TrainingRunStatus): Promise<void> {
    if (jsonEqual(raw.status ?? {}, status)) return;
    const path = `${GROUP_PATH}/namespaces/${raw.metadata.namespace}/trainingruns/${raw.metadata.name}/status`;
    await requestJson(this.deps.kc, 'PUT', path, { body: { ...raw, status } });
    this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
  }

  private async recordTransition(raw: any, previous: TrainingRunStatus | undefined, status: TrainingRunStatus): Promise<void> {
    const before = previous?.conditions?.find((c) => c.type === 'Succeeded');
    const after = status.conditions?.find((c) => c.type === 'Succeeded');
    if (!after || (before?.reason === after.reason && before?.status === after.status)) return;
    if (after.status === 'False') await this.deps.record(eventTarget(raw), 'Warning', after.reason, after.message);
    else if (after.reason === 'ModelNotFound' || after.reason === 'Unschedulable') await this.deps.record(eventTarget(raw), 'Warning', after.reason, after.message);
  }
}

function isFinished(status: TrainingRunStatus | undefined): boolean {
  const c = status?.conditions?.find((x) => x.type === 'Succeeded');
  return status?.completionTime !== undefined && c !== undefined && (c.status === 'True' || (c.status === 'False' && c.reason !== 'InvalidSpec'));
}

function isOwnedBy(obj: any, uid: string): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o: any) => o.controller && o.uid === uid);
}

function eventTarget(run: { metadata: { name: string; namespace: string; uid: string } }) {
  return { apiVersion: API_VERSION, kind: 'TrainingRun', metadata: run.metadata };
}

/** The model's champion with its artifacts, when it has one: a new run is compared with it. */
function championOf(model: any): { version: number; artifactUri: string } | undefined {
  const status = model?.status as RegisteredModelStatus | undefined;
  const version = status?.aliases?.champion;
  const found = version === undefined ? undefined : status?.versions?.find((v) => v.version === version);
  return found ? { version: found.version, artifactUri: found.artifactUri } : undefined;
}

// The only I/O of the ScoringJob controller: read from caches, start runs (Jobs), delete runs the
// schedule no longer keeps, read shard summaries, write status once per pass and only when it changed.
import type { Storage } from '@google-cloud/storage';
import { API_VERSION, describeIssue } from '../../api/v1alpha1/common.js';
import type { RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { scoringJobSpec, type ScoringJobStatus } from '../../api/v1alpha1/scoring-job.js';
import { makeStorage } from '../../artifacts/gcs.js';
import { readArtifact } from '../../artifacts/store.js';
import { k8s, requestJson } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import type { Result } from '../../runtime/controller.js';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.js';
import { ChildRejections, type ChildRejection } from '../../runtime/rejections.js';
import { jsonEqual } from '../../runtime/equal.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Logger } from '../../runtime/log.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import { CronError, parseCron, type CronSchedule } from './cron.js';
import { ANNOTATIONS, buildScoringJob, LABELS, scoringJobName, type ScoringDefaults, type ScoringJobObject } from './desired.js';
import { resolveModelVersion, type Unresolved } from './resolve.js';
import { planSchedule } from './schedule.js';
import { computeScoringJobStatus, Reason, type DriftMerger } from './status.js';
import { ShardSummaryCache, parseIndexes, type ShardRead } from './summaries.js';
import { mergeCounts, parseDriftCounts } from '../../drift/counts.js';
import { evaluateDrift } from '../../drift/evaluate.js';
import { ProfileCache } from '../../drift/profiles.js';
import { driftStatusOf } from '../../drift/status.js';
import type { ReferenceProfile } from '../../features/profile.js';

export const CONTROLLER = 'scoringjob';
const GROUP_PATH = `/apis/${API_VERSION}`;
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';

export interface ScoringJobDeps {
  kc: k8s.KubeConfig;
  scoringJobs: Informer;
  models: Informer;
  jobs: Informer;
  pods: Informer;
  defaults: ScoringDefaults;
  now: () => Date;
  log: Logger;
  record: EventRecorder;
  metrics?: OperatorMetrics;
  /** Cloud Storage client for gs:// outputs; one is made on first use when unset. */
  gcs?: Storage;
}

type ModelWithStatus = { status?: RegisteredModelStatus };

/** What the run part of a pass found or did. */
interface RunState {
  /** The Job of the current or latest run. */
  job?: any;
  unresolved?: Unresolved;
  /** The API server refused the Job of the run due now, for good. */
  rejected?: ChildRejection;
  schedule?: { lastScheduleTime?: Date; next?: Date; waiting?: Date };
  requeueAfterMs?: number;
}

export class ScoringJobReconciler {
  private readonly summaries: ShardSummaryCache;
  private readonly profiles: ProfileCache;
  private readonly rejections: ChildRejections;
  /** One-off ScoringJobs whose Job exists (created or met by this process) but the Job cache has not shown yet. */
  private readonly unseenJobs = new Set<string>();
  private gcs: Storage | undefined;

  constructor(private readonly deps: ScoringJobDeps) {
    this.gcs = deps.gcs;
    this.rejections = new ChildRejections(CONTROLLER, deps.metrics);
    const store = (uri: string) => (uri.startsWith('gs://') ? { gcs: this.storage() } : {});
    this.summaries = new ShardSummaryCache((uri) => readArtifact(uri, 'summary.json', store(uri)));
    this.profiles = new ProfileCache((uri) => readArtifact(uri, 'reference-profile.json', store(uri)));
  }

  /**
   * The batch's drift against the training reference of the version it scored with: the shards'
   * counts merged and judged once the run is complete. Without a readable profile there is none.
   */
  private async driftMerger(key: string, job: any): Promise<DriftMerger | undefined> {
    const complete = (job?.status?.conditions ?? []).some((c: any) => c.type === 'Complete' && c.status === 'True');
    const modelUri = job?.spec?.template?.spec?.containers?.[0]?.env?.find((e: any) => e.name === 'ORCHARD_MODEL_URI')?.value;
    if (!complete || typeof modelUri !== 'string') return undefined;
    let profile: ReferenceProfile;
    try {
      profile = await this.profiles.get(modelUri);
    } catch (err) {
      this.deps.log.error('reading the reference profile failed; status has no drift', { controller: CONTROLLER, key, modelUri, err });
      return undefined;
    }
    return (reports) => {
      if (!reports.length) return undefined;
      try {
        const counts = mergeCounts(reports.map((r, i) => parseDriftCounts(r, `shard ${i} drift counts`)));
        return counts.rows ? driftStatusOf(evaluateDrift(profile, counts)) : undefined;
      } catch (err) {
        // Counts from another binning or a damaged summary: the batch is scored, its drift unknown.
        this.deps.log.error('judging the batch drift failed; status has no drift', { controller: CONTROLLER, key, modelUri, err });
        return undefined;
      }
    };
  }

  async reconcile(key: string): Promise<Result | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const { scoringJobs, models, now: clock } = this.deps;
    const raw = scoringJobs.get(name, namespace);
    // Gone or going: owner references let the garbage collector remove the Jobs and their Pods.
    if (!raw || raw.metadata.deletionTimestamp) {
      this.summaries.forget(key);
      this.rejections.forget(key);
      this.unseenJobs.delete(key);
      return;
    }
    const previous = raw.status as ScoringJobStatus | undefined;
    const generation = raw.metadata.generation ?? 0;
    const now = clock();
    const base = { generation, previous, now, modelName: '', pods: [], summaries: new Map<number, ShardRead>(), labelColumn: false };

    const parsed = scoringJobSpec.safeParse(raw.spec);
    let cron: CronSchedule | undefined;
    let invalid = parsed.success ? undefined : describeIssue(parsed.error);
    if (parsed.success && parsed.data.schedule) {
      try {
        cron = parseCron(parsed.data.schedule);
      } catch (err) {
        if (!(err instanceof CronError)) throw err;
        invalid = `spec.schedule: ${err.message}`;
      }
    }
    if (invalid || !parsed.success) {
      await this.writeStatus(raw, computeScoringJobStatus({ ...base, invalidSpec: invalid! }));
      return; // an invalid spec does not fix itself: no retry until it changes
    }
    const sj: ScoringJobObject = { ...raw, spec: parsed.data };
    const model = models.get(sj.spec.modelRef.name, namespace) as ModelWithStatus | undefined;
    const run = cron ? await this.reconcileSchedule(sj, previous, cron, model, now) : await this.reconcileOnce(sj, previous, model);
    const { job, unresolved, rejected, schedule } = run;
    let requeueAfterMs = run.requeueAfterMs;
    const read = await this.readSummaries(key, job, now);
    if (read.retryAfterMs !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, read.retryAfterMs);
    const summaries = read.reads;
    const mergeDrift = await this.driftMerger(key, job);
    const jobName = job?.metadata?.name;
    const jobPods = jobName ? this.deps.pods.list(namespace).filter((p) => p.metadata?.labels?.[JOB_NAME_LABEL] === jobName) : [];

    const status = computeScoringJobStatus({
      ...base,
      modelName: sj.spec.modelRef.name,
      ...(unresolved ? { unresolved } : {}),
      ...(rejected ? { rejected } : {}),
      ...(job ? { job } : {}),
      pods: jobPods,
      summaries,
      labelColumn: sj.spec.input.labelColumn !== undefined,
      ...(schedule ? { schedule } : {}),
      ...(mergeDrift ? { mergeDrift } : {}),
    });
    await this.writeStatus(raw, status);
    await this.recordTransition(raw, previous, status);
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /** A one-off ScoringJob: one Job, started once with the version resolved then. */
  private async reconcileOnce(sj: ScoringJobObject, previous: ScoringJobStatus | undefined, model: ModelWithStatus | undefined): Promise<RunState> {
    const { namespace } = sj.metadata;
    const jobName = scoringJobName(sj);
    const key = `${namespace}/${sj.metadata.name}`;
    let job = this.deps.jobs.get(jobName, namespace);
    if (job) this.unseenJobs.delete(key);
    // A lagging cache: read the Job rather than POST it again (each POST may be charged to a quota).
    else if (this.unseenJobs.has(key)) job = await this.readJob(key, namespace, jobName);
    if (job && !isOwnedBy(job, sj.metadata.uid)) {
      throw new Error(`Job ${namespace}/${jobName} exists but belongs to something else: delete it or rename the ScoringJob`);
    }
    if (job) return { job };
    // A finished run whose Job was deleted (ttlSecondsAfterFinished) is not run again.
    if (previous?.jobName === jobName && previous.completionTime !== undefined) return {};
    const resolution = resolveModelVersion(sj.spec, model);
    if ('unresolved' in resolution) return { unresolved: resolution.unresolved };
    const outcome = await this.createJob(sj, buildScoringJob(sj, { model: resolution.resolved }, this.deps.defaults));
    if ('rejected' in outcome) return { rejected: outcome.rejected };
    if (outcome.done.job) this.unseenJobs.add(key);
    return { job: outcome.done.job };
  }

  /** A scheduled ScoringJob: a Job per schedule time, each resolving the version afresh. */
  private async reconcileSchedule(sj: ScoringJobObject, previous: ScoringJobStatus | undefined, cron: CronSchedule, model: ModelWithStatus | undefined, now: Date): Promise<RunState> {
    const runs = this.deps.jobs
      .list(sj.metadata.namespace)
      .filter((j) => j.metadata?.labels?.[LABELS.scoringJob] === sj.metadata.name && isOwnedBy(j, sj.metadata.uid))
      .map((j) => ({ job: j, scheduledTime: new Date(j.metadata?.annotations?.[ANNOTATIONS.scheduledTime] ?? j.metadata?.creationTimestamp ?? 0) }))
      .sort((a, b) => b.scheduledTime.getTime() - a.scheduledTime.getTime());
    const plan = planSchedule({
      cron,
      concurrencyPolicy: sj.spec.concurrencyPolicy,
      runs: runs.map((r) => ({ name: r.job.metadata.name, scheduledTime: r.scheduledTime, finished: isFinished(r.job) })),
      ...(previous?.lastScheduleTime ? { lastScheduleTime: new Date(previous.lastScheduleTime) } : {}),
      createdTime: new Date(sj.metadata.creationTimestamp ?? now),
      now,
    });
    const schedule: NonNullable<RunState['schedule']> = {
      ...(plan.lastScheduleTime ? { lastScheduleTime: plan.lastScheduleTime } : {}),
      ...(plan.next ? { next: plan.next } : {}),
      ...(plan.waiting ? { waiting: plan.waiting } : {}),
    };
    const state: RunState = { job: runs[0]?.job, schedule, ...(plan.next ? { requeueAfterMs: Math.max(0, plan.next.getTime() - now.getTime()) } : {}) };
    if (plan.start) {
      // Each run resolves the alias afresh: a nightly job scores with that night's champion.
      const resolution = resolveModelVersion(sj.spec, model);
      if ('unresolved' in resolution) state.unresolved = resolution.unresolved;
      else {
        for (const active of plan.replace) await this.deleteJob(sj, active, 'replaced by the next scheduled run (concurrencyPolicy Replace)');
        const outcome = await this.createJob(sj, buildScoringJob(sj, { model: resolution.resolved, scheduledTime: plan.start }, this.deps.defaults));
        // A refused run stays due: the same Job is not sent again, and the next schedule time brings a new one.
        if ('rejected' in outcome) state.rejected = outcome.rejected;
        else {
          if (outcome.done.job) state.job = outcome.done.job;
          schedule.lastScheduleTime = plan.start;
        }
      }
    }
    for (const old of plan.prune) await this.deleteJob(sj, old);
    return state;
  }

  /** The summaries of the run's finished shards, each read once. */
  private async readSummaries(key: string, job: any, now: Date): Promise<{ reads: Map<number, ShardRead>; retryAfterMs?: number }> {
    const indexes = parseIndexes(job?.status?.completedIndexes);
    const outputUri = job?.metadata?.annotations?.[ANNOTATIONS.outputUri];
    if (!job?.metadata?.uid || !indexes.length || !outputUri) return { reads: new Map() };
    return this.summaries.summaries(key, { jobUid: job.metadata.uid, outputUri, shards: job.spec?.completions ?? 1, indexes }, now.getTime());
  }

  private storage(): Storage {
    this.gcs ??= makeStorage();
    return this.gcs;
  }

  /** Creates the run's Job, unless the API server refused this very Job before (then says what it said). */
  private async createJob(sj: ScoringJobObject, job: Record<string, any>): Promise<{ done: { job: any; created: boolean } } | { rejected: ChildRejection }> {
    const { namespace, name } = sj.metadata;
    // Only the create itself: an Event the server refuses is no verdict on the Job.
    const outcome = await this.rejections.attempt(`${namespace}/${name}`, 'Job', `Job ${namespace}/${job.metadata.name}`, job, async () => {
      let created: any;
      try {
        created = await requestJson(this.deps.kc, 'POST', `/apis/batch/v1/namespaces/${namespace}/jobs`, { body: job });
      } catch (err) {
        if (!isAlreadyExists(err)) throw new Error(`create Job ${namespace}/${job.metadata.name}`, { cause: err });
        // The cache was behind: the Job exists, and this pass reads it instead of going on without it.
        const existing = await this.readJob(`${namespace}/${name}`, namespace, job.metadata.name);
        if (existing && !isOwnedBy(existing, sj.metadata.uid)) {
          throw new Error(`Job ${namespace}/${job.metadata.name} exists but belongs to something else: delete it or rename the ScoringJob`);
        }
        return { job: existing, created: false };
      }
      return { job: created, created: true };
    });
    if ('done' in outcome && outcome.done.created) {
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'create' });
      const version = job.metadata.annotations[ANNOTATIONS.modelVersion];
      const shards = job.spec.completions;
      this.deps.log.info('started run', { controller: CONTROLLER, namespace, name, job: job.metadata.name, model: sj.spec.modelRef.name, version });
      await this.deps.record(eventTarget(sj), 'Normal', 'Started', `started Job ${job.metadata.name}: ${shards} shard${shards === 1 ? '' : 's'} scoring with ${sj.spec.modelRef.name}@${version}`);
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

  private async deleteJob(sj: ScoringJobObject, name: string, why?: string): Promise<void> {
    const { namespace } = sj.metadata;
    try {
      await requestJson(this.deps.kc, 'DELETE', `/apis/batch/v1/namespaces/${namespace}/jobs/${name}?propagationPolicy=Background`);
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'delete' });
      this.deps.log.info('deleted run', { controller: CONTROLLER, namespace, name: sj.metadata.name, job: name, why: why ?? 'beyond the history limit' });
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`delete Job ${namespace}/${name}`, { cause: err });
    }
    if (why) await this.deps.record(eventTarget(sj), 'Normal', 'Replaced', `deleted Job ${name}: ${why}`);
  }

  private async writeStatus(raw: any, status: ScoringJobStatus): Promise<void> {
    if (jsonEqual(raw.status ?? {}, status)) return;
    const path = `${GROUP_PATH}/namespaces/${raw.metadata.namespace}/scoringjobs/${raw.metadata.name}/status`;
    await requestJson(this.deps.kc, 'PUT', path, { body: { ...raw, status } });
    this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
  }

  private async recordTransition(raw: any, previous: ScoringJobStatus | undefined, status: ScoringJobStatus): Promise<void> {
    const before = previous?.conditions?.find((c) => c.type === 'Succeeded');
    const after = status.conditions?.find((c) => c.type === 'Succeeded');
    if (!after) return;
    if (before?.reason === after.reason && before?.status === after.status && previous?.jobName === status.jobName) return;
    if (after.status === 'True') await this.deps.record(eventTarget(raw), 'Normal', 'Succeeded', after.message);
    else if (after.status === 'False') await this.deps.record(eventTarget(raw), 'Warning', after.reason, after.message);
    else if (WAITING_ON_MODEL.has(after.reason) || after.reason === Reason.Unschedulable) await this.deps.record(eventTarget(raw), 'Warning', after.reason, after.message);
  }
}

const WAITING_ON_MODEL = new Set<string>([Reason.ModelNotFound, Reason.VersionNotFound, Reason.NoChampion, Reason.NoChallenger]);

function isFinished(job: any): boolean {
  return (job.status?.conditions ?? []).some((c: any) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

function isOwnedBy(obj: any, uid: string): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o: any) => o.controller && o.uid === uid);
}

function eventTarget(sj: { metadata: { name: string; namespace: string; uid: string } }) {
  return { apiVersion: API_VERSION, kind: 'ScoringJob', metadata: sj.metadata };
}

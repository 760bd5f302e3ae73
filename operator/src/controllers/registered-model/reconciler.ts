// The RegisteredModel controller's I/O. One pass: promotions into aliases → the serving children
// (Deployment, Service, autoscaler) → drift summary and retraining → status, written once when it
// changed, and Events for what changed.
import { API_VERSION, describeIssue } from '../../api/v1alpha1/common.js';
import { registeredModelSpec, type ModelVersion, type RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { k8s, requestJson } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import { rfc3339, setCondition, setStalledCondition } from '../../runtime/conditions.js';
import type { Result } from '../../runtime/controller.js';
import { isAlreadyExists, isNotFound } from '../../runtime/errors.js';
import { ChildRejections, type ChildRejection } from '../../runtime/rejections.js';
import { jsonEqual } from '../../runtime/equal.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Logger } from '../../runtime/log.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import { computeDriftedCondition, settleDrift, type DriftStatus } from './drift.js';
import { appendPromotions, computePromotions } from './promotion.js';
import { buildRetrainRun, planRetrain, retrainRunsOf } from './retrain.js';
import {
  buildScoringAutoscaler,
  buildScoringDeployment,
  buildScoringService,
  servingAutoscaling,
  servingName,
  servingUrl,
  SPEC_HASH_ANNOTATION,
  type RegisteredModelObject,
  type ServingDefaults,
} from './serving.js';
import { CHILD_REJECTED, computeReadyCondition, computeServingStatus, observeDeployment, rejectionMessage, type DeploymentState } from './status.js';

export const CONTROLLER = 'registeredmodel';

export interface RegisteredModelDeps {
  kc: k8s.KubeConfig;
  models: Informer;
  runs: Informer;
  deployments: Informer;
  services: Informer;
  autoscalers: Informer;
  serving: ServingDefaults;
  /** The drift summary of the served traffic, from the scoring Pods; undefined when there is none. */
  readDrift?: (model: RegisteredModelObject, champion: ModelVersion) => Promise<DriftStatus | undefined>;
  /** How often drift is read while a model serves. */
  driftPollSeconds?: number;
  now: () => Date;
  log: Logger;
  record: EventRecorder;
  metrics?: OperatorMetrics;
}

interface Child {
  /** API prefix, kind and plural, e.g. /apis/apps/v1, Deployment and deployments. */
  api: string;
  kind: string;
  plural: string;
  informer: Informer;
  desired: Record<string, any> | undefined;
  /** Fields the cluster owns and an update must keep (e.g. replicas under an autoscaler). */
  keep?: (observed: any) => Record<string, any>;
}

export class RegisteredModelReconciler {
  private readonly rejections: ChildRejections;
  /** `key plural` of serving children that exist (created or met by this process) but their cache has not shown yet. */
  private readonly unseen = new Set<string>();

  constructor(private readonly deps: RegisteredModelDeps) {
    this.rejections = new ChildRejections(CONTROLLER, deps.metrics);
  }

  async reconcile(key: string): Promise<Result | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.models.get(name, namespace);
    // Gone or going: owner references let the garbage collector remove the serving children.
    if (!raw || raw.metadata.deletionTimestamp) {
      this.rejections.forget(key);
      for (const slot of this.unseen) if (slot.startsWith(`${key} `)) this.unseen.delete(slot);
      return;
    }
    const now = this.deps.now();
    const previous = (raw.status ?? {}) as RegisteredModelStatus;
    const generation = raw.metadata.generation ?? 0;
    const condition = (base: RegisteredModelStatus, type: string, c: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string }) =>
      setCondition(base.conditions, { type, ...c, observedGeneration: generation }, now);

    const parsed = registeredModelSpec.safeParse(raw.spec);
    if (!parsed.success) {
      const message = `${describeIssue(parsed.error)}; fix the spec`;
      const conditions = setStalledCondition(condition(previous, 'Ready', { status: 'False', reason: 'InvalidSpec', message }), { reason: 'InvalidSpec', message }, generation, now);
      await this.writeStatus(raw, { ...previous, observedGeneration: generation, conditions });
      return; // an invalid spec does not fix itself: no retry until it changes
    }
    const model: RegisteredModelObject = { metadata: raw.metadata, spec: parsed.data };
    const { spec } = model;

    // Aliases.
    const promoted = computePromotions(spec, previous, now);
    const status: RegisteredModelStatus = { ...previous, observedGeneration: generation, aliases: promoted.aliases };
    const promotions = appendPromotions(previous.promotions, promoted.changes);
    if (promotions) status.promotions = promotions;
    const versionOf = (v: number | undefined) => (v === undefined ? undefined : previous.versions?.find((x) => x.version === v));
    const champion = versionOf(promoted.aliases.champion);
    const challenger = versionOf(promoted.aliases.challenger);

    // Serving children: desired only while a champion exists and serving is Online.
    const online = spec.serving.mode === 'Online' && champion !== undefined && !promoted.problem;
    const { deployment, rejected } = await this.applyChildren(model, [
      {
        api: '/apis/apps/v1',
        kind: 'Deployment',
        plural: 'deployments',
        informer: this.deps.deployments,
        desired: online ? buildScoringDeployment(model, champion!, challenger, this.deps.serving) : undefined,
        keep: (observed) => (servingAutoscaling(model, this.deps.serving) ? { replicas: observed.spec?.replicas } : {}),
      },
      { api: '/api/v1', kind: 'Service', plural: 'services', informer: this.deps.services, desired: online ? buildScoringService(model) : undefined },
      { api: '/apis/autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', informer: this.deps.autoscalers, desired: online ? buildScoringAutoscaler(model, this.deps.serving) : undefined },
    ]);
    const state: DeploymentState | undefined = deployment ? observeDeployment(deployment) : undefined;
    if (online) status.serving = computeServingStatus(state, previous.serving, servingUrl(model));
    else delete status.serving;
    status.conditions = condition(
      status,
      'Ready',
      computeReadyCondition({
        spec,
        name,
        hasVersions: (previous.versions?.length ?? 0) > 0,
        ...(promoted.aliases.champion !== undefined ? { champion: promoted.aliases.champion } : {}),
        ...(promoted.problem ? { problem: promoted.problem } : {}),
        ...(state ? { deployment: state } : {}),
        ...(status.serving ? { serving: status.serving } : {}),
        ...(rejected ? { rejected } : {}),
      }),
    );
    let stalled = rejected;

    // Drift of the served traffic, and retraining when it asks for it.
    let requeueAfter: number | undefined;
    if (online && this.deps.readDrift && status.serving?.servedVersion !== undefined) {
      const served = versionOf(status.serving.servedVersion) ?? champion!;
      const drift = await this.deps.readDrift(model, served);
      if (drift) status.drift = settleDrift(previous.drift, drift, now);
      requeueAfter = (this.deps.driftPollSeconds ?? 60) * 1000;
    }
    if (!online) delete status.drift;
    const drifted = status.drift?.drifted === 'True';
    const plan = planRetrain({
      spec,
      model: name,
      drifted,
      runs: retrainRunsOf(name, this.deps.runs.list(namespace)),
      ...(previous.lastRetrainTime ? { lastRetrainTime: previous.lastRetrainTime } : {}),
      now,
    });
    let retrainNote: string | undefined;
    if (plan.action === 'Create') {
      const run = buildRetrainRun(model, plan.index);
      const outcome = await this.rejections.attempt(key, 'trainingruns', `TrainingRun ${namespace}/${plan.name}`, run, () => this.create(`/apis/${API_VERSION}/namespaces/${namespace}/trainingruns`, run));
      if ('rejected' in outcome) {
        // Drift stays reported; retraining waits for a fixed spec.retrain template.
        stalled ??= outcome.rejected;
        retrainNote = `retraining cannot start: ${rejectionMessage(outcome.rejected)}`;
      } else {
        status.lastRetrainTime = rfc3339(now);
        status.lastRetrainRun = plan.name;
        retrainNote = `created TrainingRun ${plan.name} to retrain`;
        await this.deps.record(eventTarget(raw), 'Normal', 'RetrainStarted', `drift detected: ${retrainNote}`);
      }
    } else if (plan.action === 'CoolingDown') {
      if (plan.last) {
        status.lastRetrainRun = plan.last.name;
        status.lastRetrainTime ??= rfc3339(plan.last.createdTime);
      }
      retrainNote = `retrained with ${status.lastRetrainRun ?? 'a TrainingRun'} at ${status.lastRetrainTime}; the next retraining may start after ${rfc3339(plan.until)} (drift.coolDownSeconds)`;
      const wait = plan.until.getTime() - now.getTime();
      requeueAfter = Math.min(requeueAfter ?? wait, wait);
    }
    const driftedCondition = computeDriftedCondition(spec, status.drift, retrainNote);
    if (driftedCondition) status.conditions = condition(status, 'Drifted', driftedCondition);
    else status.conditions = status.conditions?.filter((c) => c.type !== 'Drifted');
    status.conditions = setStalledCondition(status.conditions, stalled ? { reason: CHILD_REJECTED, message: rejectionMessage(stalled) } : undefined, generation, now);

    await this.writeStatus(raw, status);
    await this.recordChanges(raw, previous, status, promoted.changes);
    return requeueAfter !== undefined ? { requeueAfterMs: requeueAfter } : undefined;
  }

  /**
   * Creates, updates (input hash changed) or deletes each child; returns the observed Deployment
   * and the first child the API server refused (the others are still applied).
   */
  private async applyChildren(model: RegisteredModelObject, children: Child[]): Promise<{ deployment: any; rejected?: ChildRejection }> {
    const { namespace, name: owner, uid } = model.metadata;
    const key = `${namespace}/${owner}`;
    const name = servingName(owner);
    let result: any;
    let rejected: ChildRejection | undefined;
    for (const child of children) {
      const base = `${child.api}/namespaces/${namespace}/${child.plural}`;
      const slot = `${key} ${child.plural}`;
      let observed = child.informer.get(name, namespace);
      if (observed) this.unseen.delete(slot);
      // A lagging cache: read the child rather than POST it again (each POST may be charged to a quota).
      else if (this.unseen.has(slot)) observed = await this.read(slot, `${base}/${name}`);
      if (observed && !(observed.metadata.ownerReferences ?? []).some((o: any) => o.controller && o.uid === uid)) {
        throw new Error(`${child.plural} ${namespace}/${name} exists but belongs to something else: delete or rename it`);
      }
      let current = observed;
      // Keyed by the desired object alone: the observed one's resourceVersion moves with its status.
      const write = (send: () => Promise<any>) => this.rejections.attempt(key, child.plural, `${child.kind} ${namespace}/${name}`, child.desired, send);
      let outcome: Awaited<ReturnType<typeof write>> | undefined;
      if (!child.desired) {
        this.rejections.forget(key, child.plural);
        if (observed) current = await this.remove(`${base}/${name}`);
      } else if (!observed) {
        outcome = await write(async () => {
          const created = (await this.create(base, child.desired!)) ?? (await this.read(slot, `${base}/${name}`));
          if (created && !(created.metadata.ownerReferences ?? []).some((o: any) => o.controller && o.uid === uid)) {
            throw new Error(`${child.plural} ${namespace}/${name} exists but belongs to something else: delete or rename it`);
          }
          if (created) this.unseen.add(slot);
          return created;
        });
      } else if (observed.metadata.annotations?.[SPEC_HASH_ANNOTATION] !== child.desired.metadata.annotations[SPEC_HASH_ANNOTATION]) {
        const body = {
          ...child.desired,
          metadata: { ...observed.metadata, ...child.desired.metadata, annotations: { ...(observed.metadata.annotations ?? {}), ...child.desired.metadata.annotations } },
          spec: { ...observed.spec, ...child.desired.spec, ...(child.keep?.(observed) ?? {}) },
        };
        outcome = await write(async () => {
          const updated = await requestJson(this.deps.kc, 'PUT', `${base}/${name}`, { body });
          this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
          return updated;
        });
      }
      if (outcome && 'done' in outcome) current = outcome.done;
      else if (outcome) rejected ??= outcome.rejected;
      if (child.plural === 'deployments') result = current;
    }
    return { deployment: result, ...(rejected ? { rejected } : {}) };
  }

  private async create(path: string, body: Record<string, any>): Promise<any> {
    try {
      const created = await requestJson(this.deps.kc, 'POST', path, { body });
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'create' });
      return created;
    } catch (err) {
      // The cache was behind: the object exists, and its event brings the next pass.
      if (isAlreadyExists(err)) return undefined;
      throw err;
    }
  }

  /** A child from the API server, for a pass whose cache has not shown it yet; gone means forgotten. */
  private async read(slot: string, path: string): Promise<any> {
    try {
      return await requestJson(this.deps.kc, 'GET', path);
    } catch (err) {
      if (!isNotFound(err)) throw new Error(`read ${path}`, { cause: err });
      this.unseen.delete(slot);
      return undefined;
    }
  }

  private async remove(path: string): Promise<undefined> {
    try {
      await requestJson(this.deps.kc, 'DELETE', `${path}?propagationPolicy=Background`);
      this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'delete' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return undefined;
  }

  private async writeStatus(raw: any, status: RegisteredModelStatus): Promise<void> {
    if (jsonEqual(raw.status ?? {}, status)) return;
    const path = `/apis/${API_VERSION}/namespaces/${raw.metadata.namespace}/registeredmodels/${raw.metadata.name}/status`;
    // resourceVersion guards against the TrainingRun controller appending a version meanwhile: 409 re-runs the pass.
    await requestJson(this.deps.kc, 'PUT', path, { body: { ...raw, status } });
    this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
  }

  private async recordChanges(raw: any, previous: RegisteredModelStatus, status: RegisteredModelStatus, changes: ReturnType<typeof computePromotions>['changes']): Promise<void> {
    const { namespace, name } = raw.metadata;
    const target = eventTarget(raw);
    for (const change of changes) {
      this.deps.log.info('alias changed', { controller: CONTROLLER, namespace, name, alias: change.alias, version: change.version, reason: change.reason });
      await this.deps.record(target, 'Normal', change.reason, `${change.alias.toLowerCase()}: ${change.message}`);
    }
    const served = status.serving?.servedVersion;
    if (served !== undefined && served !== previous.serving?.servedVersion) {
      await this.deps.record(target, 'Normal', 'Serving', `version ${served} now serves at ${status.serving!.url}`);
    }
    const before = previous.conditions?.find((c) => c.type === 'Drifted');
    const after = status.conditions?.find((c) => c.type === 'Drifted');
    if (after?.status === 'True' && before?.status !== 'True' && status.drift !== undefined) {
      this.deps.log.info('drift detected', { controller: CONTROLLER, namespace, name, driftedShare: status.drift.driftedShare });
      const spec = registeredModelSpec.parse(raw.spec);
      if (spec.drift.onDrift !== 'None') await this.deps.record(target, 'Warning', 'DriftDetected', after.message);
    }
  }
}

function eventTarget(raw: any) {
  return { apiVersion: API_VERSION, kind: 'RegisteredModel', metadata: raw.metadata };
}

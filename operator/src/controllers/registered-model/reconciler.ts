// The RegisteredModel controller's I/O: promotions into aliases, recorded and announced, and the
// Ready condition; status written once per pass when it changed.
import { API_VERSION, describeIssue } from '../../api/v1alpha1/common.js';
import { registeredModelSpec, type RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { k8s, requestJson } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import { setCondition } from '../../runtime/conditions.js';
import { jsonEqual } from '../../runtime/equal.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Logger } from '../../runtime/log.js';
import type { OperatorMetrics } from '../../runtime/metrics.js';
import { appendPromotions, computePromotions } from './promotion.js';

export const CONTROLLER = 'registeredmodel';

export interface RegisteredModelDeps {
  kc: k8s.KubeConfig;
  models: Informer;
  now: () => Date;
  log: Logger;
  record: EventRecorder;
  metrics?: OperatorMetrics;
}

export class RegisteredModelReconciler {
  constructor(private readonly deps: RegisteredModelDeps) {}

  async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.models.get(name, namespace);
    if (!raw || raw.metadata.deletionTimestamp) return;
    const now = this.deps.now();
    const previous = (raw.status ?? {}) as RegisteredModelStatus;
    const generation = raw.metadata.generation ?? 0;
    const ready = (status: 'True' | 'False' | 'Unknown', reason: string, message: string, base: RegisteredModelStatus) =>
      setCondition(base.conditions, { type: 'Ready', status, reason, message, observedGeneration: generation }, now);

    const parsed = registeredModelSpec.safeParse(raw.spec);
    if (!parsed.success) {
      await this.writeStatus(raw, { ...previous, observedGeneration: generation, conditions: ready('False', 'InvalidSpec', `${describeIssue(parsed.error)}; fix the spec`, previous) });
      return;
    }
    const spec = parsed.data;
    const result = computePromotions(spec, previous, now);
    const status: RegisteredModelStatus = { ...previous, observedGeneration: generation, aliases: result.aliases };
    const promotions = appendPromotions(previous.promotions, result.changes);
    if (promotions) status.promotions = promotions;
    const champion = result.aliases.champion;
    if (result.problem) status.conditions = ready('False', result.problem.reason, result.problem.message, previous);
    else if (!previous.versions?.length) status.conditions = ready('False', 'NoVersions', `no version yet: a TrainingRun with modelRef ${name} registers the first`, previous);
    else if (champion === undefined) status.conditions = ready('False', 'NoChampion', 'no version holds the champion alias: pin one in spec.promotion.champion or use policy Automatic', previous);
    else if (spec.serving.mode === 'None') status.conditions = ready('True', 'ChampionSelected', `version ${champion} is champion (serving.mode None: nothing is deployed)`, previous);
    else status.conditions = ready('False', 'ServingNotDeployed', `version ${champion} is champion, but this release does not deploy online serving yet: set serving.mode None to use the registry alone`, previous);

    await this.writeStatus(raw, status);
    const target = { apiVersion: API_VERSION, kind: 'RegisteredModel', metadata: raw.metadata };
    for (const change of result.changes) {
      this.deps.log.info('alias changed', { controller: CONTROLLER, namespace, name, alias: change.alias, version: change.version, reason: change.reason });
      await this.deps.record(target, 'Normal', change.reason, `${change.alias.toLowerCase()}: ${change.message}`);
    }
  }

  private async writeStatus(raw: any, status: RegisteredModelStatus): Promise<void> {
    if (jsonEqual(raw.status ?? {}, status)) return;
    const path = `/apis/${API_VERSION}/namespaces/${raw.metadata.namespace}/registeredmodels/${raw.metadata.name}/status`;
    // resourceVersion guards against the TrainingRun controller appending a version meanwhile: 409 re-runs the pass.
    await requestJson(this.deps.kc, 'PUT', path, { body: { ...raw, status } });
    this.deps.metrics?.apiWrites.inc({ controller: CONTROLLER, verb: 'update' });
  }
}

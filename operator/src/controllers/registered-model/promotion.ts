// Pure: which versions hold the champion and challenger aliases, and why they changed.
import { DEFAULT_PRIMARY_METRIC, type MetricName } from '../../api/v1alpha1/training-run.js';
import type { ModelVersion, RegisteredModelSpec, RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import { rfc3339 } from '../../runtime/conditions.js';

export type Promotion = NonNullable<RegisteredModelStatus['promotions']>[number];
type Aliases = NonNullable<RegisteredModelStatus['aliases']>;

const HIGHER_IS_BETTER = new Set<MetricName>(['R2', 'AUC', 'Accuracy', 'Precision', 'Recall', 'F1', 'PrecisionAtK', 'RecallAtK', 'LiftAtK', 'MacroF1', 'BalancedAccuracy']);
const MAX_PROMOTIONS = 100;

export interface PromotionResult {
  aliases: Aliases;
  /** New entries for status.promotions, oldest first. */
  changes: Promotion[];
  /** Set when the spec pins a version that does not exist. */
  problem?: { reason: string; message: string };
}

/** Relative improvement of `candidate` over `champion` on `metric` (positive = better). */
export function improvement(metric: MetricName, candidate: number, champion: number): number {
  const delta = HIGHER_IS_BETTER.has(metric) ? candidate - champion : champion - candidate;
  return champion === 0 ? (delta > 0 ? Infinity : delta < 0 ? -Infinity : 0) : delta / Math.abs(champion);
}

export function computePromotions(spec: Pick<RegisteredModelSpec, 'promotion' | 'task'>, status: RegisteredModelStatus | undefined, now: Date): PromotionResult {
  const versions = status?.versions ?? [];
  const current: Aliases = { ...(status?.aliases ?? {}) };
  const changes: Promotion[] = [];
  const time = rfc3339(now);
  const set = (alias: 'Champion' | 'Challenger', version: number | undefined, reason: string, message: string) => {
    const key = alias === 'Champion' ? 'champion' : 'challenger';
    const previous = current[key];
    if (previous === version) return;
    if (version === undefined) delete current[key];
    else current[key] = version;
    if (version !== undefined) changes.push({ time, alias, version, ...(previous !== undefined ? { previous } : {}), reason, message });
  };
  const byNumber = new Map(versions.map((v) => [v.version, v]));

  if (spec.promotion.policy === 'Manual') {
    for (const [alias, pinned] of [['Champion', spec.promotion.champion], ['Challenger', spec.promotion.challenger]] as const) {
      if (pinned !== undefined && !byNumber.has(pinned)) {
        return { aliases: status?.aliases ?? {}, changes: [], problem: { reason: 'VersionNotFound', message: `promotion.${alias.toLowerCase()} pins version ${pinned}, which does not exist (latest is ${status?.latestVersion ?? 'none'}): pin an existing version` } };
      }
    }
    const champion = spec.promotion.champion;
    const previous = current.champion;
    const rollback = champion !== undefined && previous !== undefined && champion < previous;
    set('Champion', champion, rollback ? 'Rollback' : 'ManualPin', rollback ? `rolled back from version ${previous} to ${champion} (pinned in spec.promotion.champion)` : `version ${champion} pinned in spec.promotion.champion`);
    set('Challenger', spec.promotion.challenger, 'ManualPin', `version ${spec.promotion.challenger} pinned in spec.promotion.challenger`);
    return { aliases: current, changes };
  }

  // Automatic: every version newer than those already placed gets a decision, in order.
  const placed = Math.max(0, current.champion ?? 0, current.challenger ?? 0, ...(status?.promotions ?? []).map((p) => p.version));
  const metric = spec.promotion.metric ?? DEFAULT_PRIMARY_METRIC[spec.task ?? versions[0]?.task ?? 'Regression'];
  const margin = Number(spec.promotion.minImprovement);
  for (const v of versions.filter((x) => x.version > placed).sort((a, b) => a.version - b.version)) {
    const champion = current.champion !== undefined ? byNumber.get(current.champion) : undefined;
    const decision = decide(v, champion, metric, margin);
    if (decision.alias === 'Champion') set('Champion', v.version, decision.reason, decision.message);
    else set('Challenger', v.version, decision.reason, decision.message);
  }
  return { aliases: current, changes };
}

function decide(v: ModelVersion, champion: ModelVersion | undefined, metric: MetricName, margin: number): { alias: 'Champion' | 'Challenger'; reason: string; message: string } {
  if (!champion) return { alias: 'Champion', reason: 'FirstVersion', message: `version ${v.version} is the first version` };
  const candidate = Number(v.metrics?.[metric]);
  const incumbent = Number(champion.metrics?.[metric]);
  if (!Number.isFinite(candidate) || !Number.isFinite(incumbent)) {
    return { alias: 'Challenger', reason: 'MetricMissing', message: `version ${v.version} or champion ${champion.version} has no ${metric}: set promotion.metric to a metric both report` };
  }
  // Scored on this version's test split at training time: compared on the same rows, whatever
  // data the champion was tested on.
  const onSameRows = v.comparison?.version === champion.version ? Number(v.comparison.metrics[metric]) : Number.NaN;
  const sameRows = Number.isFinite(onSameRows);
  if (!sameRows && v.testDataFingerprint && champion.testDataFingerprint && v.testDataFingerprint !== champion.testDataFingerprint) {
    return {
      alias: 'Challenger',
      reason: 'DifferentTestData',
      message: `version ${v.version} was tested on other data than champion ${champion.version}, so their ${metric} cannot be compared: score both on the same data with a ScoringJob, or promote with policy Manual`,
    };
  }
  const against = sameRows ? onSameRows : incumbent;
  const shown = sameRows ? `${onSameRows} on version ${v.version}'s test split` : String(incumbent);
  const gain = improvement(metric, candidate, against);
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (gain > 0 && gain >= margin) {
    return { alias: 'Champion', reason: 'BeatChampion', message: `version ${v.version} ${metric} ${candidate} beats champion ${champion.version} (${shown}) by ${pct(gain)} (needs ${pct(margin)})` };
  }
  return { alias: 'Challenger', reason: 'DidNotBeatChampion', message: `version ${v.version} ${metric} ${candidate} does not beat champion ${champion.version} (${shown}) by ${pct(margin)} (${pct(gain)})` };
}

/** status.promotions with the new entries, keeping the newest MAX_PROMOTIONS. */
export function appendPromotions(existing: Promotion[] | undefined, changes: Promotion[]): Promotion[] | undefined {
  const all = [...(existing ?? []), ...changes];
  return all.length ? all.slice(-MAX_PROMOTIONS) : undefined;
}

// Pure: which model version a run scores with, from the RegisteredModel's status at start.
import type { RegisteredModelStatus } from '../../api/v1alpha1/registered-model.js';
import type { ScoringJobSpec } from '../../api/v1alpha1/scoring-job.js';
import type { ResolvedVersion } from './desired.js';

/** Why a run cannot start yet; each clears by itself once the model catches up. */
export interface Unresolved {
  reason: 'ModelNotFound' | 'VersionNotFound' | 'NoChampion' | 'NoChallenger';
  message: string;
}

export type Resolution = { resolved: ResolvedVersion } | { unresolved: Unresolved };

export function resolveModelVersion(spec: Pick<ScoringJobSpec, 'modelRef' | 'version' | 'alias'>, model: { status?: RegisteredModelStatus } | undefined): Resolution {
  const name = spec.modelRef.name;
  if (!model) {
    return { unresolved: { reason: 'ModelNotFound', message: `RegisteredModel "${name}" does not exist in this namespace: create it (or fix spec.modelRef); scoring starts once it exists` } };
  }
  const status = model.status ?? {};
  let version = spec.version;
  let via = '';
  if (version === undefined) {
    const alias = spec.alias ?? 'Champion';
    version = alias === 'Champion' ? status.aliases?.champion : status.aliases?.challenger;
    if (version === undefined) {
      return {
        unresolved:
          alias === 'Champion'
            ? { reason: 'NoChampion', message: `RegisteredModel "${name}" has no champion yet: register a version or pin one in its spec.promotion.champion; scoring starts once it has one` }
            : { reason: 'NoChallenger', message: `RegisteredModel "${name}" has no challenger: register a second version or pin one in its spec.promotion.challenger; scoring starts once it has one` },
      };
    }
    via = ` (its ${alias.toLowerCase()})`;
  }
  const entry = status.versions?.find((v) => v.version === version);
  if (!entry) {
    const latest = status.latestVersion !== undefined ? `latest is ${status.latestVersion}` : 'it has none yet';
    return { unresolved: { reason: 'VersionNotFound', message: `RegisteredModel "${name}" has no version ${version}${via} (${latest}): pick an existing version; scoring starts once it exists` } };
  }
  return { resolved: { version: entry.version, artifactUri: entry.artifactUri, task: entry.task } };
}

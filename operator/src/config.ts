// The operator's configuration: one schema for flags and environment; nothing else reads process.env.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { z } from 'zod';

export const operatorConfig = z.object({
  kubeconfig: z.string().optional().describe('Path to a kubeconfig; in-cluster configuration when unset.'),
  namespace: z.string().optional().describe('Watch only this namespace; all namespaces when unset.'),
  namespaces: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((n) => n.trim()).filter(Boolean))
    .describe('Watch only these comma-separated namespaces (with namespace-scoped RBAC); overrides namespace.'),
  image: z.string().min(1).describe('Image with the orchard CLI and the trainer, run by training Jobs.'),
  gpuImage: z.string().optional().describe('Image for GPU training runs; defaults to image.'),
  artifactRoot: z.string().regex(/^(file:\/\/\/|gs:\/\/)/, 'must start with file:/// or gs://').describe('Where runs without spec.artifactUri publish.'),
  trainerServiceAccount: z.string().optional().describe('ServiceAccount for training Pods when the run names none.'),
  trainerFileRoots: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((p) => p.trim()).filter(Boolean))
    .refine((roots) => roots.every((p) => p.startsWith('/')), 'must be comma-separated absolute paths, such as /mnt/datasets')
    .describe('Comma-separated directories (volumes) training and batch scoring Pods may read file:// sources from, besides the image data in /opt/orchard/data.'),
  trainerSourceHosts: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((h) => h.trim()).filter(Boolean))
    .refine((hosts) => hosts.every((h) => /^(\*\.)?[A-Za-z0-9.:[\]-]+$/.test(h)), 'must be comma-separated host names, such as data.example.com or *.example.com')
    .describe('Comma-separated hosts https:// data sources of training runs and ScoringJobs may reach (*.example.com for subdomains); any host when unset.'),
  scorerServiceAccount: z.string().optional().describe('ServiceAccount for scoring Pods (online and batch) when the resource names none.'),
  // The default of spec.serving.autoscaling, with that field's bounds.
  scorerAutoscaling: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('Give models whose serving.autoscaling is unset a HorizontalPodAutoscaler with the three values below.'),
  scorerMinReplicas: z.coerce.number().int().min(1).max(1000).default(1).describe('Fewest scoring Pods of a default autoscaler.'),
  scorerMaxReplicas: z.coerce.number().int().min(1).max(1000).default(5).describe('Most scoring Pods of a default autoscaler.'),
  scorerTargetCpuUtilizationPercentage: z.coerce.number().int().min(1).max(100).default(70).describe('Average CPU use a default autoscaler aims for.'),
  driftPollSeconds: z.coerce.number().int().min(5).default(60).describe('How often the scoring Pods\' drift monitors are read.'),
  backoffLimit: z.coerce.number().int().min(0).default(2),
  workers: z.coerce.number().int().min(1).max(64).default(4),
  httpPort: z.coerce.number().int().min(0).max(65535).default(8080),
  leaderElection: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  leaseNamespace: z.string().default('orchard-system'),
  identity: z.string().default(`${hostname()}-${process.pid}`),
}).superRefine((c, ctx) => {
  if (c.scorerMinReplicas > c.scorerMaxReplicas) ctx.addIssue({ code: 'custom', path: ['scorerMinReplicas'], message: `must not exceed --scorer-max-replicas (${c.scorerMaxReplicas})` });
});
export type OperatorConfig = z.infer<typeof operatorConfig>;

const ENV: Record<string, keyof OperatorConfig> = {
  KUBECONFIG: 'kubeconfig',
  ORCHARD_NAMESPACE: 'namespace',
  ORCHARD_NAMESPACES: 'namespaces',
  ORCHARD_IMAGE: 'image',
  ORCHARD_GPU_IMAGE: 'gpuImage',
  ORCHARD_ARTIFACT_ROOT: 'artifactRoot',
  ORCHARD_TRAINER_SERVICE_ACCOUNT: 'trainerServiceAccount',
  ORCHARD_TRAINER_FILE_ROOTS: 'trainerFileRoots',
  ORCHARD_TRAINER_SOURCE_HOSTS: 'trainerSourceHosts',
  ORCHARD_SCORER_SERVICE_ACCOUNT: 'scorerServiceAccount',
  ORCHARD_SCORER_AUTOSCALING: 'scorerAutoscaling',
  ORCHARD_SCORER_MIN_REPLICAS: 'scorerMinReplicas',
  ORCHARD_SCORER_MAX_REPLICAS: 'scorerMaxReplicas',
  ORCHARD_SCORER_TARGET_CPU_UTILIZATION_PERCENTAGE: 'scorerTargetCpuUtilizationPercentage',
  ORCHARD_DRIFT_POLL_SECONDS: 'driftPollSeconds',
  ORCHARD_BACKOFF_LIMIT: 'backoffLimit',
  ORCHARD_WORKERS: 'workers',
  ORCHARD_HTTP_PORT: 'httpPort',
  ORCHARD_LEADER_ELECTION: 'leaderElection',
  ORCHARD_LEASE_NAMESPACE: 'leaseNamespace',
  POD_NAME: 'identity',
};

/** Flags (--artifact-root gs://…) win over environment variables (ORCHARD_ARTIFACT_ROOT). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const keys = Object.keys(operatorConfig.shape);
  const { values } = parseArgs({ args: argv, options: Object.fromEntries(keys.map((k) => [flagOf(k), { type: 'string' as const }])) });
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  for (const key of keys) if (values[flagOf(key)] !== undefined) raw[key] = values[flagOf(key)];
  const parsed = operatorConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    const envName = Object.entries(ENV).find(([, k]) => k === key)?.[0];
    throw new Error(`--${flagOf(key)}${envName ? ` (or ${envName})` : ''}: ${issue.message}`);
  }
  return parsed.data;
}

/** The namespaces to watch, one set of caches and controllers each; [undefined] means all namespaces. */
export function watchScopes(config: Pick<OperatorConfig, 'namespace' | 'namespaces'>): (string | undefined)[] {
  if (config.namespaces.length) return [...new Set(config.namespaces)];
  return [config.namespace];
}

/** The autoscaling models get when their spec sets none (see servingAutoscaling); none unless turned on. */
export function scorerAutoscalingDefault(
  config: Pick<OperatorConfig, 'scorerAutoscaling' | 'scorerMinReplicas' | 'scorerMaxReplicas' | 'scorerTargetCpuUtilizationPercentage'>,
): { minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number } | undefined {
  if (!config.scorerAutoscaling) return undefined;
  return { minReplicas: config.scorerMinReplicas, maxReplicas: config.scorerMaxReplicas, targetCPUUtilizationPercentage: config.scorerTargetCpuUtilizationPercentage };
}

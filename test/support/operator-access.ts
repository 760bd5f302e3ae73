// The operator's own access in integration tests: the RBAC the chart renders, applied with the
// admin kubeconfig, and a kubeconfig that authenticates with a token of the chart's operator
// ServiceAccount. Tests keep the admin kubeconfig for set-up and observation; the operator gets
// exactly what an installed one gets, so a missing verb fails a test with a 403.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { applyObjects, requestJson, statusCode, type KubeObject } from '../../operator/src/kube/client.js';
import { kubeConfigFrom, type KubeConfig, type RawKubeConfig } from '../../operator/src/kube/kubeconfig.js';
import { testKubeConfig } from './cluster.js';
import { helmTemplate } from './helm.js';
import { eventually } from './wait.js';

/** What the chart renders for the operator's access: its ServiceAccounts, roles and bindings. */
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/**
 * The release every Cluster-mode caller shares. Its ClusterRole and binding are the same whoever
 * applies them, so jest workers applying them at once is harmless (server-side apply); they stay
 * until the control plane stops.
 */
const SHARED_RELEASE = { name: 'orchard-it', namespace: 'orchard-it-system' } as const;

export type OperatorRbac =
  /** Every namespace, through the chart's ClusterRole; `leaseNamespace` also gets the chart's leader-election Role (default: the shared release namespace). */
  | { mode: 'Cluster'; leaseNamespace?: string }
  /** Only `namespaces`, through a Role in each; `release` (the caller's own namespace) holds the ServiceAccount and the Lease. */
  | { mode: 'Namespaces'; namespaces: string[]; release: string };

export interface OperatorAccess {
  /** Authenticates with the operator ServiceAccount's token. */
  kc: KubeConfig;
  /** The same as a kubeconfig document, for an operator process. */
  raw: RawKubeConfig;
  /** The RBAC objects as the chart rendered and the test applied them. */
  objects: any[];
}

/** The lease the operator elects its leader on (operator/src/main.ts). */
const LEASE = 'orchard-operator';

// Per test file (jest gives each its own modules): operators started again reuse the access.
const accesses = new Map<string, Promise<OperatorAccess>>();

/** Applies the chart's RBAC for `rbac` and returns a kubeconfig with a token of the chart's operator ServiceAccount. */
export function operatorAccess(rbac: OperatorRbac = { mode: 'Cluster' }): Promise<OperatorAccess> {
  const key = JSON.stringify(rbac);
  let access = accesses.get(key);
  if (!access) {
    accesses.set(key, (access = grantAccess(rbac)));
    access.catch(() => accesses.delete(key));
  }
  return access;
}

async function grantAccess(rbac: OperatorRbac): Promise<OperatorAccess> {
  const admin = testKubeConfig();
  const release = rbac.mode === 'Cluster' ? SHARED_RELEASE : { name: `rbac-${rbac.release.slice(-5)}`, namespace: rbac.release };
  const values: Record<string, string> =
    rbac.mode === 'Cluster'
      ? { 'watch.mode': 'Cluster', ...(rbac.leaseNamespace ? { 'leaderElection.namespace': rbac.leaseNamespace } : {}) }
      : { 'watch.mode': 'Namespaces', 'watch.namespaces': `{${rbac.namespaces.join(',')}}` };
  const objects = (await helmTemplate(release.name, release.namespace, values)).filter((o) => RBAC_KINDS.has(o.kind));
  // The shared release's namespace first: server-side apply, so workers applying it at once agree.
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: release.namespace } };
  await applyObjects(admin, [...(rbac.mode === 'Cluster' ? [namespace] : []), ...objects] as KubeObject[]);

  const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.labels['app.kubernetes.io/component'] === 'operator');
  const serviceAccount = { namespace: sa.metadata.namespace as string, name: sa.metadata.name as string };
  const review = await requestJson(admin, 'POST', `/api/v1/namespaces/${serviceAccount.namespace}/serviceaccounts/${serviceAccount.name}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const admins = parse(readFileSync(process.env.KUBECONFIG!, 'utf8')) as RawKubeConfig;
  const context = admins.contexts!.find((c) => c.name === admins['current-context'])!.context;
  const raw: RawKubeConfig = { ...admins, users: [{ name: context.user!, user: { token: review.status.token } }] };
  const kc = kubeConfigFrom(raw, `the token of ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`);

  // The API server's RBAC authorizer learns of new bindings through its own watch: wait until it has.
  const probes =
    rbac.mode === 'Cluster'
      ? ['/apis/orchard.dev/v1alpha1/registeredmodels?limit=1']
      : rbac.namespaces.map((ns) => `/apis/orchard.dev/v1alpha1/namespaces/${ns}/registeredmodels?limit=1`);
  if (objects.some((o) => o.kind === 'Role' && o.metadata.name.endsWith('-leader-election'))) {
    const leaseNamespace = rbac.mode === 'Cluster' ? (rbac.leaseNamespace ?? release.namespace) : rbac.release;
    probes.push(`/apis/coordination.k8s.io/v1/namespaces/${leaseNamespace}/leases/${LEASE}`);
  }
  for (const path of probes) {
    await eventually(`the operator's RBAC to allow GET ${path}`, async () => {
      // 404 is an allowed read of a Lease that does not exist yet.
      const code = await requestJson(kc, 'GET', path).then(() => 200, (err) => statusCode(err));
      if (code === 200 || code === 404) return true;
      throw new Error(`HTTP ${code}`);
    }, 10_000);
  }
  return { kc, raw, objects };
}

/** A kubeconfig for an operator started in the test process (startOperator, LeaderElector). */
export async function operatorKubeConfig(rbac: OperatorRbac = { mode: 'Cluster' }): Promise<KubeConfig> {
  return (await operatorAccess(rbac)).kc;
}

/** The same written to a file (0600, removed with the control plane's folder), for an operator process: KUBECONFIG or --kubeconfig. */
export async function operatorKubeConfigFile(rbac: OperatorRbac = { mode: 'Cluster' }): Promise<string> {
  const { raw } = await operatorAccess(rbac);
  const dir = mkdtempSync(join(process.env.ORCHARD_TEST_CONTROL_PLANE_DIR ?? tmpdir(), 'operator-kubeconfig-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, stringify(raw), { mode: 0o600 });
  return path;
}

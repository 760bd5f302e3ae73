// The operator process: config → client → HTTP probes → leader election → controllers.
import { loadConfig, scorerAutoscalingDefault, watchScopes } from './config.js';
import { startHttp } from './http.js';
import { loadKubeConfig } from './kube/client.js';
import { startOperator, type RunningOperator } from './operator.js';
import { LeaderElector } from './runtime/leader-election.js';
import { jsonLogger } from './runtime/log.js';
import { OperatorMetrics } from './runtime/metrics.js';

const log = jsonLogger({ component: 'orchard-operator' });

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const kc = loadKubeConfig(config.kubeconfig);
  const metrics = new OperatorMetrics();
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info('shutting down', { signal });
      shutdown.abort();
    });
  }

  // Namespace-scoped RBAC cannot list across namespaces: one set of caches and controllers per namespace.
  let running: RunningOperator[] = [];
  let leading = !config.leaderElection;
  const server = await startHttp(config.httpPort, metrics, {
    ready: () => {
      if (!leading) return { ok: true, reason: 'standby: another replica leads' };
      return running.length && running.every((r) => r.synced()) ? { ok: true, reason: 'caches synced' } : { ok: false, reason: 'caches syncing' };
    },
  });
  log.info('listening', { port: config.httpPort });

  const defaults = {
    image: config.image,
    ...(config.gpuImage ? { gpuImage: config.gpuImage } : {}),
    artifactRoot: config.artifactRoot,
    ...(config.trainerServiceAccount ? { serviceAccountName: config.trainerServiceAccount } : {}),
    fileRoots: config.trainerFileRoots,
    sourceHosts: config.trainerSourceHosts,
    backoffLimit: config.backoffLimit,
  };
  const autoscaling = scorerAutoscalingDefault(config);
  const serving = {
    image: config.image,
    ...(config.scorerServiceAccount ? { serviceAccountName: config.scorerServiceAccount } : {}),
    ...(autoscaling ? { autoscaling } : {}),
  };
  const lead = async (signal: AbortSignal) => {
    leading = true;
    metrics.leader.set(1);
    running = await Promise.all(
      watchScopes(config).map((namespace) =>
        startOperator(
          {
            kc,
            ...(namespace ? { namespace } : {}),
            defaults,
            serving,
            scoringDefaults: { ...defaults, ...(config.scorerServiceAccount ? { serviceAccountName: config.scorerServiceAccount } : {}) },
            drift: { pollSeconds: config.driftPollSeconds },
            log,
            metrics,
            workers: config.workers,
          },
          signal,
        ),
      ),
    );
    await Promise.all(running.map((r) => r.done));
  };

  if (config.leaderElection) {
    const elector = new LeaderElector({
      kc,
      namespace: config.leaseNamespace,
      name: 'orchard-operator',
      identity: config.identity,
      onStartedLeading: lead,
      onStoppedLeading: () => {
        leading = false;
        metrics.leader.set(0);
        // A replica that lost its lease must not keep writing: exit and let the Deployment restart it.
        if (!shutdown.signal.aborted) {
          log.error('lost leadership; exiting');
          process.exitCode = 1;
          shutdown.abort();
        }
      },
      log,
    });
    await elector.run(shutdown.signal);
  } else {
    await lead(shutdown.signal);
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

main().catch((err) => {
  log.error('operator failed', { err });
  process.exit(1);
});

// The local node agent on its own, against any API server a kubeconfig reaches:
//
//   tsx operator/src/local/node/cli.ts --kubeconfig K --node-name N --state-dir D [--pod-addresses CIDR] [--shared-path DIR]…
//
// It prints one JSON line once the Node is registered ({"node": …, "pid": …}), logs to stderr, and
// on SIGTERM or SIGINT stops every container before it exits.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../../kube/client.js';
import { startNodeAgent } from '../node-agent.js';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'node-name': { type: 'string', default: 'orchard-local' },
    'state-dir': { type: 'string' },
    'pod-addresses': { type: 'string' },
    'shared-path': { type: 'string', multiple: true },
    'restart-backoff-ms': { type: 'string' },
  },
});
const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
if (!kubeconfig || !values['state-dir']) {
  process.stderr.write('usage: cli.ts --kubeconfig FILE --state-dir DIR [--node-name NAME] [--pod-addresses CIDR] [--shared-path DIR]…\n');
  process.exit(2);
}
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const backoffMs = values['restart-backoff-ms'] ? Number(values['restart-backoff-ms']) : undefined;
const agent = await startNodeAgent({
  kc: loadKubeConfig(kubeconfig),
  nodeName: values['node-name']!,
  repoRoot,
  stateDir: resolve(values['state-dir']),
  log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  ...(values['pod-addresses'] ? { podAddresses: values['pod-addresses'] } : {}),
  ...(values['shared-path'] ? { sharedPaths: [repoRoot, ...values['shared-path']] } : {}),
  ...(backoffMs ? { restartBackoff: { initialMs: backoffMs, maxMs: backoffMs * 8 } } : {}),
});
process.stdout.write(`${JSON.stringify({ node: agent.nodeName, pid: process.pid })}\n`);
const stop = async () => {
  await agent.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());

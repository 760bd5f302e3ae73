// client-node's API types, for annotations only: importing this module loads no code. Its
// KubeConfig is the small interface every request needs, which client-node's class also satisfies.
export type * from '@kubernetes/client-node';
export type { KubeConfig } from './kubeconfig.js';

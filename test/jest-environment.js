// Jest runs each test file in its own realm, so typed arrays made by native addons (onnxruntime-node
// returns its outputs from Node's realm) fail `instanceof Float64Array` checks inside the test.
// Sharing the typed-array constructors with the test realm keeps one identity, as in production.
import { TestEnvironment } from 'jest-environment-node';

const SHARED = [
  'ArrayBuffer', 'Uint8Array', 'Uint8ClampedArray', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

export default class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

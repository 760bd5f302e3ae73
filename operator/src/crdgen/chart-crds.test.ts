// The Helm chart ships the generated CRDs: its crds/ must be byte-identical to the top-level crds/.
// After `npm run gen:crds`, copy them: cp crds/*.yaml charts/orchard/crds/
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const generated = join(root, 'crds');
const chart = join(root, 'charts', 'orchard', 'crds');

describe("the chart's CRDs", () => {
  it('are the generated CRDs, file for file and byte for byte', () => {
    const names = readdirSync(generated).filter((f) => f.endsWith('.yaml')).sort();
    expect(names.length).toBeGreaterThan(0);
    expect(readdirSync(chart).sort()).toEqual(names);
    for (const name of names) {
      const same = readFileSync(join(chart, name)).equals(readFileSync(join(generated, name)));
      if (!same) throw new Error(`charts/orchard/crds/${name} differs from crds/${name}: cp crds/*.yaml charts/orchard/crds/`);
    }
  });
});

describe("the chart's values", () => {
  it('are each described by a comment that starts with the value name', () => {
    const lines = readFileSync(join(root, 'charts', 'orchard', 'values.yaml'), 'utf8').split('\n');
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const key = /^\s*([A-Za-z][A-Za-z0-9]*):/.exec(line)?.[1];
      if (!key) return;
      const comment = /^\s*#\s*(\S+)/.exec(lines[i - 1] ?? '')?.[1];
      if (comment !== key) undocumented.push(`line ${i + 1}: ${key}`);
    });
    expect(undocumented).toEqual([]);
  });
});

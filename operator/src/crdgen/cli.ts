// Writes crds/*.yaml from the zod schemas: `npm run gen:crds`.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { kinds } from '../api/v1alpha1/index.js';
import { crdFileName, renderCrdYaml } from './crdgen.js';

const dir = join(import.meta.dirname, '../../../crds');
mkdirSync(dir, { recursive: true });
for (const def of kinds) {
  const file = join(dir, crdFileName(def));
  writeFileSync(file, renderCrdYaml(def));
  console.log(`wrote ${file}`);
}

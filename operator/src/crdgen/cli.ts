// Writes crds/*.yaml from the zod schemas: `npm run gen:crds`.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { kinds } from '../api/v1alpha1/index.js';
import { crdFileName, renderCrdYaml } from './crdgen.js';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../crds');
mkdirSync(dir, { recursive: true });
for (const def of kinds) {
  const file = join(dir, crdFileName(def));
  writeFileSync(file, renderCrdYaml(def));
  console.log(`wrote ${file}`);
}

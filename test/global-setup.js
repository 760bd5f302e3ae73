// Jest loads global set-up outside its transform pipeline: tsx loads the TypeScript.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { setup } = await tsImport('./control-plane-setup.ts', import.meta.url);
  await setup();
}

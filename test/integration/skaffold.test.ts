// skaffold.yaml: it builds the images in images/ under the names the chart's values use, passes
// each built image to the chart value that names it, and its profiles patch paths that exist.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../support/cluster.js';

const skaffold = parse(readFileSync(join(repoRoot, 'skaffold.yaml'), 'utf8'));
const values = parse(readFileSync(join(repoRoot, 'charts', 'orchard', 'values.yaml'), 'utf8'));
const valueAt = (path: string) => path.split('.').reduce((v: any, k) => (v === undefined ? undefined : v[k]), values);
const keyOf = (image: string) => image.replace(/[^A-Za-z0-9]/g, '_');

/** The config a profile produces: RFC 6902 add/remove/replace on the base (the ops skaffold applies). */
function withProfile(name: string): any {
  const config = structuredClone(skaffold);
  const profile = skaffold.profiles.find((p: any) => p.name === name);
  if (!profile) throw new Error(`no profile ${name}`);
  for (const patch of profile.patches ?? []) {
    const keys = patch.path.split('/').slice(1).map((k: string) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop();
    const parent = keys.reduce((v: any, k: string) => v?.[k], config);
    if (parent === undefined || parent === null) throw new Error(`profile ${name}: ${patch.path} patches a path that does not exist`);
    if (patch.op === 'add' && Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, patch.value);
    else if (patch.op === 'add' || patch.op === 'replace') parent[last] = patch.value;
    else if (patch.op === 'remove') Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
    else throw new Error(`unexpected op ${patch.op}`);
  }
  return config;
}

describe.each([['(base)'], ['local'], ['gke']])('skaffold.yaml %s', (profile) => {
  const config = profile === '(base)' ? skaffold : withProfile(profile);
  const artifacts: any[] = config.build.artifacts;
  const release = config.deploy.helm.releases[0];

  it('builds Dockerfiles that exist, from the repository root', () => {
    expect(artifacts.length).toBeGreaterThanOrEqual(2);
    for (const a of artifacts) {
      expect(a.context).toBe('.');
      expect([a.docker.dockerfile, existsSync(join(repoRoot, a.docker.dockerfile))]).toEqual([a.docker.dockerfile, true]);
    }
  });

  it("deploys the chart and hands each built image to the value that names it", () => {
    expect(existsSync(join(repoRoot, release.chartPath, 'Chart.yaml'))).toBe(true);
    const templates: Record<string, string> = release.setValueTemplates;
    const images = new Set(artifacts.map((a) => a.image));
    // Every template names a value of the chart, and every image template an artifact that is built.
    for (const [key, template] of Object.entries(templates)) {
      expect([key, valueAt(key) !== undefined]).toEqual([key, true]);
      for (const m of template.matchAll(/IMAGE_(?:REPO|TAG)_(\w+)/g)) expect([...images].map(keyOf)).toContain(m[1]);
    }
    for (const [key, value] of Object.entries(release.setValues ?? {})) expect([key, valueAt(key) !== undefined && typeof valueAt(key) === typeof value]).toEqual([key, true]);
    // The artifact passed to image.repository is the image the chart's default names (same last path segment).
    for (const value of ['image', 'runtimeImage', 'gpuTrainerImage']) {
      const template = templates[`${value}.repository`];
      if (!template) continue;
      const image = artifacts.find((a) => template === `{{.IMAGE_REPO_${keyOf(a.image)}}}`)?.image;
      expect(image).toBeDefined();
      expect(valueAt(`${value}.repository`).split('/').at(-1)).toBe(image);
      expect(templates[`${value}.tag`]).toBe(`{{.IMAGE_TAG_${keyOf(image)}}}`);
    }
  });
});

describe('the profiles', () => {
  it('local builds without pushing and without the CUDA image; gke pushes, builds it and turns it on', () => {
    const local = withProfile('local');
    expect(local.build.local.push).toBe(false);
    expect(local.build.artifacts.map((a: any) => a.image)).not.toContain('orchard-runtime-gpu');
    const gke = withProfile('gke');
    expect(gke.build.local.push).toBe(true);
    expect(gke.build.artifacts.map((a: any) => a.image)).toContain('orchard-runtime-gpu');
    expect(gke.deploy.helm.releases[0].setValues['gpuTrainerImage.enabled']).toBe(true);
    expect(gke.deploy.helm.releases[0].setValues['scorer.autoscaling.enabled']).toBe(true);
    expect(gke.deploy.helm.releases[0].setValueTemplates.artifactRoot).toMatch(/^gs:\/\//);
  });
});

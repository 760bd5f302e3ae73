// Publishing a run's artifacts all or nothing, to file:// and gs:// (fake-gcs-server), and reading them back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataError } from '../../operator/src/artifacts/errors.js';
import { publishArtifacts, readArtifact, readArtifactText, readManifest } from '../../operator/src/artifacts/store.js';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs.js';

const BUCKET = 'orchard-artifacts';
const created = new Date('2026-03-01T12:00:00.000Z');
const now = () => created;
const files = [
  { name: 'model.onnx', bytes: Buffer.from([0, 1, 2, 3, 255]) },
  { name: 'metrics.json', bytes: Buffer.from('{"RMSE":1.5}\n'), contentType: 'application/json' },
  { name: 'shap.json', bytes: Buffer.from('[]\n'), contentType: 'application/json' },
];
const expectedManifest = {
  files: files.map((f) => ({ name: f.name, bytes: f.bytes.length, sha256: createHash('sha256').update(f.bytes).digest('hex') })),
  createdTime: created.toISOString(),
};

let dir: string;
let gcs: FakeGcs;

const failure = async (promise: Promise<unknown>): Promise<DataError> => {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).not.toContain('\n');
  return err as DataError;
};
const objects = async (prefix: string) => {
  const [found] = await gcs.storage.bucket(BUCKET).getFiles({ prefix });
  return Object.fromEntries(found.map((f) => [f.name, String(f.metadata.generation)]));
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'orchard-store-'));
  gcs = await startFakeGcs({ buckets: [BUCKET] });
});

afterAll(async () => {
  await gcs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('file://', () => {
  it('publishes in one rename, reads back checked, and refuses a second publish', async () => {
    const uri = pathToFileURL(join(dir, 'runs', 'r1')).href + '/';
    const { manifest } = await publishArtifacts(uri, files, { now });
    expect(manifest).toEqual(expectedManifest);
    expect(readdirSync(join(dir, 'runs'))).toEqual(['r1']); // no staging directory left behind
    expect(readdirSync(join(dir, 'runs', 'r1')).sort()).toEqual(['manifest.json', 'metrics.json', 'model.onnx', 'shap.json']);
    expect(await readManifest(uri)).toEqual(expectedManifest);
    expect(await readArtifact(uri, 'model.onnx')).toEqual(files[0]!.bytes);
    expect(await readArtifactText(uri.slice(0, -1), 'metrics.json')).toBe('{"RMSE":1.5}\n');

    const again = await failure(publishArtifacts(uri, [{ name: 'model.onnx', bytes: Buffer.from('other') }], { now }));
    expect(again.message).toBe(`${uri} is already published (it has manifest.json) and artifacts are never overwritten: publish to a new location`);
    expect(readFileSync(join(dir, 'runs', 'r1', 'model.onnx'))).toEqual(files[0]!.bytes);
    expect(readdirSync(join(dir, 'runs'))).toEqual(['r1']);
  });

  it('publishes into an empty directory but not over a half-filled one', async () => {
    mkdirSync(join(dir, 'empty'));
    await publishArtifacts(pathToFileURL(join(dir, 'empty')).href, files, { now });
    expect(readdirSync(join(dir, 'empty'))).toHaveLength(4);

    mkdirSync(join(dir, 'partial'));
    writeFileSync(join(dir, 'partial', 'model.onnx'), 'stale');
    const uri = pathToFileURL(join(dir, 'partial')).href + '/';
    const err = await failure(publishArtifacts(uri, files, { now }));
    expect(err.message).toBe(`cannot publish to ${uri}: it exists, is not empty and has no manifest.json; remove it or publish to a new location`);
    expect(readdirSync(join(dir, 'partial'))).toEqual(['model.onnx']);
    expect(readdirSync(dir).filter((name) => name.includes('.publishing-'))).toEqual([]);
  });

  it('refuses to read an unpublished location or an artifact changed after publishing', async () => {
    const uri = pathToFileURL(join(dir, 'partial')).href + '/';
    expect((await failure(readArtifact(uri, 'model.onnx'))).message).toBe(
      `not published: ${uri} has no manifest.json; publishing did not finish there, or the URI is wrong`,
    );
    const published = pathToFileURL(join(dir, 'empty')).href + '/';
    expect((await failure(readArtifact(published, 'model.cbm'))).message).toBe(
      `${published} has no artifact "model.cbm": its manifest lists model.onnx, metrics.json, shap.json`,
    );
    writeFileSync(join(dir, 'empty', 'shap.json'), '[1]\n');
    expect((await failure(readArtifact(published, 'shap.json'))).message).toMatch(
      /shap\.json: SHA-256 \w{64} does not match \w{64} in manifest\.json: the artifact was changed after publishing; publish the run again$/,
    );
  });

  it('rejects names that are not plain file names before writing anything', async () => {
    const uri = pathToFileURL(join(dir, 'bad-names')).href;
    await expect(publishArtifacts(uri, [{ name: '../escape', bytes: Buffer.from('x') }])).rejects.toThrow(/artifact name "..\/escape" is invalid/);
    await expect(publishArtifacts(uri, [{ name: 'manifest.json', bytes: Buffer.from('{}') }])).rejects.toThrow(/reserved/);
    expect(readdirSync(dir).filter((name) => name.startsWith('bad-names'))).toEqual([]);
  });
});

describe('gs://', () => {
  it('uploads every file, then the manifest; reads back checked; refuses a second publish', async () => {
    const uri = `gs://${BUCKET}/ns/salaries/r1/`;
    const { manifest } = await publishArtifacts(uri, files, { gcs: gcs.storage, now });
    expect(manifest).toEqual(expectedManifest);
    const published = await objects('ns/salaries/r1/');
    expect(Object.keys(published).sort()).toEqual(['manifest.json', 'metrics.json', 'model.onnx', 'shap.json'].map((n) => `ns/salaries/r1/${n}`));
    const [metadata] = await gcs.storage.bucket(BUCKET).file('ns/salaries/r1/metrics.json').getMetadata();
    expect(metadata.contentType).toBe('application/json');
    expect(await readManifest(uri, { gcs: gcs.storage })).toEqual(expectedManifest);
    expect(await readArtifact(uri, 'model.onnx', { gcs: gcs.storage })).toEqual(files[0]!.bytes);
    expect(await readArtifactText(uri, 'shap.json', { gcs: gcs.storage })).toBe('[]\n');

    const again = await failure(publishArtifacts(uri.slice(0, -1), files, { gcs: gcs.storage, now }));
    expect(again.message).toBe(`${uri} is already published (it has manifest.json) and artifacts are never overwritten: publish to a new location`);
    expect(await objects('ns/salaries/r1/')).toEqual(published);
  });

  it('leaves nothing behind when an upload fails midway, and never overwrites an object', async () => {
    const stray = gcs.storage.bucket(BUCKET).file('ns/salaries/r2/metrics.json');
    await stray.save('not ours', { resumable: false });
    const before = await objects('ns/salaries/r2/');
    const uri = `gs://${BUCKET}/ns/salaries/r2/`;
    const err = await failure(publishArtifacts(uri, files, { gcs: gcs.storage, now }));
    expect(err.message).toBe(
      `cannot publish to ${uri}: an object there already exists and artifacts are never overwritten; remove the leftover objects under ${uri} or publish to a new location`,
    );
    expect(await objects('ns/salaries/r2/')).toEqual(before); // model.onnx and shap.json were removed again
    expect((await stray.download())[0].toString()).toBe('not ours');
    expect((await failure(readArtifact(uri, 'metrics.json', { gcs: gcs.storage }))).message).toMatch(/^not published: gs:\/\/orchard-artifacts\/ns\/salaries\/r2\/ has no manifest\.json/);
  });

  it('names a location that is neither file:// nor gs://', async () => {
    expect((await failure(publishArtifacts('s3://bucket/run', files))).message).toBe('s3://bucket/run is not an artifact location: use file:///dir/ or gs://bucket/prefix/');
  });
});

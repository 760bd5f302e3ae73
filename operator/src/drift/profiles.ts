// Reference profiles by model artifact location, read once each: versions are immutable.
import { parseReferenceProfile, type ReferenceProfile } from '../features/profile.js';

const MAX_PROFILES = 256;

export class ProfileCache {
  private readonly byUri = new Map<string, Promise<ReferenceProfile>>();

  constructor(
    private readonly read: (modelUri: string) => Promise<Buffer>,
    private readonly retryAfterMs = 60_000,
  ) {}

  /** The profile under a version's artifact prefix; a failed read is remembered for retryAfterMs, then tried again. */
  get(modelUri: string): Promise<ReferenceProfile> {
    let hit = this.byUri.get(modelUri);
    if (!hit) {
      hit = this.read(modelUri).then((bytes) => parseReferenceProfile(JSON.parse(bytes.toString('utf8')), `${modelUri}reference-profile.json`));
      hit.catch(() => setTimeout(() => this.byUri.delete(modelUri), this.retryAfterMs).unref());
      if (this.byUri.size >= MAX_PROFILES) this.byUri.delete(this.byUri.keys().next().value!);
      this.byUri.set(modelUri, hit);
    }
    return hit;
  }
}

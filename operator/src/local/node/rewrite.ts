// How a container's command line and environment, written for the image's filesystem and the
// Pod's own network namespace, become a local process's: image paths and volume mounts map to
// local directories, and loopback URLs go to the Pod's own loopback address. Pure.
//
// The rules, applied to every argument, the working directory and every env value:
// - a value that is a mapped path, or starts with one (`/work`, `/work/prepared`), is mapped;
//   so is the path after `=` in `--flag=/work`;
// - `file://` URIs anywhere in a value are mapped (`file:///opt/orchard/data/x.csv`);
// - `scheme://127.0.0.1…` and `scheme://localhost…` go to the Pod's address;
// - a value that is a JSON object or array has each of its strings rewritten by these rules.
// The longest mapped prefix wins, so a volume mounted inside an image directory shadows it.

export interface RewriteContext {
  /** Image or mount path → local path. */
  paths: Record<string, string>;
  /** The Pod's loopback address, for 127.0.0.1/localhost URLs; unset leaves them. */
  podIP?: string;
}

/** The local path for an image path, or undefined when no mapped directory holds it. */
export function mapPath(path: string, paths: Record<string, string>): string | undefined {
  let best: string | undefined;
  for (const prefix of Object.keys(paths)) {
    const inside = path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
    if (inside && (best === undefined || prefix.length > best.length)) best = prefix;
  }
  return best === undefined ? undefined : paths[best]! + path.slice(best.length);
}

const FILE_URI = /file:\/\/(\/[^\s"'<>]*)/g;
const LOOPBACK_URL = /\b([a-z][a-z0-9+.-]*:\/\/)(127\.0\.0\.1|localhost)(?![\w.-])/gi;

export function rewriteValue(value: string, ctx: RewriteContext): string {
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) return JSON.stringify(rewriteJson(parsed, ctx));
  }
  return rewriteString(value, ctx);
}

function rewriteJson(value: unknown, ctx: RewriteContext): unknown {
  if (typeof value === 'string') return rewriteString(value, ctx);
  if (Array.isArray(value)) return value.map((v) => rewriteJson(v, ctx));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewriteJson(v, ctx)]));
  return value;
}

function rewriteString(value: string, ctx: RewriteContext): string {
  if (value.startsWith('/')) {
    const mapped = mapPath(value, ctx.paths);
    if (mapped !== undefined) return mapped;
  }
  const flag = /^(--?[\w.-]+=)(\/.*)$/.exec(value);
  if (flag) {
    const mapped = mapPath(flag[2]!, ctx.paths);
    if (mapped !== undefined) return flag[1] + mapped;
  }
  let out = value.replace(FILE_URI, (uri, path: string) => {
    const mapped = mapPath(path, ctx.paths);
    return mapped === undefined ? uri : `file://${mapped}`;
  });
  if (ctx.podIP) out = out.replace(LOOPBACK_URL, (_url, scheme: string) => `${scheme}${ctx.podIP}`);
  return out;
}

/**
 * Kubernetes' `$(VAR)` references in command, args and env values: replaced by the variable's
 * value when defined, `$$` escapes a `$`, anything else is left as written.
 */
export function expandReferences(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return name in env ? env[name]! : match;
  });
}

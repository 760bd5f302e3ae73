// Building blocks shared by the three kinds. Every schema here is the single source of truth for
// both the TypeScript types (z.infer) and the generated CRD (crds/*.yaml, through crdgen).
import { z } from 'zod';

export const GROUP = 'orchard.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** One CEL rule, enforced at admission by the API server and again by zod when the operator parses. */
export interface Rule<T> {
  rule: string;
  message: string;
  /** Field the error is reported on, relative to the object the rule sits on (e.g. `.testFraction`). */
  fieldPath?: string;
  /** A CEL expression building the message from the value, e.g. to name the offending key; `messageOf` is its zod twin. */
  messageExpression?: string;
  messageOf?: (value: T) => string;
  check: (value: T) => boolean;
}

/** Attaches CEL rules (x-kubernetes-validations) and the same checks as zod refinements. */
/** A zod issue path in Kubernetes field notation: spec.features.columns[0].type */
export function fieldPath(path: readonly PropertyKey[], root = 'spec'): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : `${acc}.${String(seg)}`), root);
}

/** The first problem of a failed parse as one line: "spec.field: message". */
export function describeIssue(error: z.ZodError, root = 'spec'): string {
  const issue = error.issues[0]!;
  return `${fieldPath(issue.path, root)}: ${issue.message}`;
}

/** A field the schema does not declare, with the declared name it most likely meant. */
export interface UnknownField {
  path: string;
  didYouMean?: string;
}

/**
 * Keys of `value` that `schema` declares nowhere. The CRDs cannot forbid them (a structural schema
 * has no additionalProperties: false), and the API server prunes them, so the operator never sees one;
 * a spec read from a file or the environment is checked here instead, or a typo would be dropped in silence.
 */
export function unknownFields(schema: z.ZodType, value: unknown, root = 'spec'): UnknownField[] {
  const found: UnknownField[] = [];
  const walk = (s: z.ZodType, v: unknown, at: string): void => {
    const def = (s as unknown as { _zod: { def: Record<string, any> } })._zod.def;
    switch (def.type) {
      case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'catch': case 'nonoptional':
        return walk(def.innerType, v, at);
      case 'pipe':
        return walk(def.in, v, at);
      case 'lazy':
        return walk(def.getter(), v, at);
      case 'array':
        if (Array.isArray(v)) v.forEach((item, i) => walk(def.element, item, `${at}[${i}]`));
        return;
      case 'record':
        if (isPlainObject(v)) for (const k of Object.keys(v)) walk(def.valueType, v[k], `${at}.${k}`);
        return;
      case 'union': {
        // Only object options declare fields; a value that fits none is the union's own error.
        const objects = (def.options as z.ZodType[]).filter((o) => (o as any)._zod.def.type === 'object');
        if (objects.length === 1) walk(objects[0]!, v, at);
        return;
      }
      case 'object': {
        if (!isPlainObject(v)) return;
        const shape = def.shape as Record<string, z.ZodType>;
        for (const k of Object.keys(v)) {
          if (Object.hasOwn(shape, k)) walk(shape[k]!, v[k], `${at}.${k}`);
          else {
            const near = closestName(k, Object.keys(shape));
            found.push({ path: `${at}.${k}`, ...(near ? { didYouMean: near } : {}) });
          }
        }
        return;
      }
      default:
    }
  };
  walk(schema, value, root);
  return found;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "spec.catboost.learningrate is not a field: did you mean learningRate? (…)" for each unknown field, one line. */
export function describeUnknownFields(fields: readonly UnknownField[]): string {
  const each = fields.map((f) => `${f.path} is not a field${f.didYouMean ? `: did you mean ${f.didYouMean}?` : ''}`);
  return `${each.join('; ')} (fix or remove ${fields.length === 1 ? 'it' : 'them'}: the API server would drop an unknown field, and the run would go ahead without it)`;
}

/** The declared name closest to `name` by edit distance, when close enough to be a typo of it. */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of names) {
    const d = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase()) + 1;
    if (!best || d < best.distance) best = { name: candidate, distance: d };
  }
  // A third of the name may differ (one in three letters): beyond that the guess misleads more than it helps.
  return best && best.distance - 1 <= Math.max(1, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a transposition counted as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Parses a spec read outside the API server: unknown fields are refused as admission with
 * fieldValidation=Strict refuses them (or, with 'Drop', dropped as admission's default does), then
 * the schema's own checks apply.
 */
export function parseStrict<S extends z.ZodType>(schema: S, raw: unknown, root = 'spec', unknown: 'Reject' | 'Drop' = 'Reject'): { success: true; data: z.output<S> } | { success: false; message: string } {
  const found = unknown === 'Reject' ? unknownFields(schema, raw, root) : [];
  if (found.length > 0) return { success: false, message: describeUnknownFields(found) };
  const parsed = schema.safeParse(raw);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, message: describeIssue(parsed.error, root) };
}

export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const r of rules) {
      if (!r.check(value)) {
        ctx.addIssue({ code: 'custom', message: r.messageOf?.(value) ?? r.message, path: r.fieldPath ? r.fieldPath.split('.').filter(Boolean) : [] });
      }
    }
  });
  return refined.meta({
    'x-kubernetes-validations': rules.map(({ rule, message, messageExpression, fieldPath }) => ({
      rule,
      message,
      ...(messageExpression ? { messageExpression } : {}),
      ...(fieldPath ? { fieldPath } : {}),
    })),
  }) as S;
}

/** A CEL string literal holding `text`. */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A CEL double literal (CEL has no implicit int → double conversion). */
const celDouble = (n: number): string => (Number.isInteger(n) ? `${n}.0` : String(n));

/**
 * A string that must match `pattern`, checked by a CEL rule rather than an OpenAPI pattern, so the
 * API server prints `message` (a sentence) instead of the regex. Patterns are written in the common
 * subset of RE2 and JavaScript (no \d, no lookaround, no inline flags).
 */
export function matching(schema: z.ZodString, pattern: string, message: string): z.ZodString {
  const re = new RegExp(pattern);
  return withRules(schema, [{ rule: `self.matches(${celString(pattern)})`, message, check: (s) => re.test(s) }]);
}

/** A Kubernetes object name (DNS-1123 subdomain). */
export const objectName = matching(
  z.string().min(1).max(253),
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  'must be a Kubernetes object name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, e.g. "salaries"',
);

/** A data-set column name as it appears in the source file's header. */
export const columnName = z.string().min(1).max(256);

/** A name that becomes a model input: safe in ONNX, Prometheus labels and URLs. */
export const featureName = matching(
  z.string().min(1).max(128),
  '^[A-Za-z_][A-Za-z0-9_.-]*$',
  'must start with a letter or "_" and contain only letters, digits, "_", "." or "-", e.g. "work_year"',
);

// At most two exponent digits: every match is then a finite double in both CEL and JavaScript
// ("1e999" would be Infinity, and CEL's double() fails on it), and NaN/Infinity never match.
const DECIMAL = '^-?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]{1,2})?$';
const DECIMAL_MESSAGE = 'must be a finite decimal number written as a string, e.g. "0.18", "-3" or "1e-4" (no NaN or Infinity, at most two exponent digits)';
const decimalRe = new RegExp(DECIMAL);

/** Bounds of a decimal string; a bound left out is open. */
export interface DecimalRange {
  above?: number;
  atLeast?: number;
  atMost?: number;
  below?: number;
  /** What to do when the value is out of range, as a sentence naming the field. */
  message: string;
}

/**
 * A string schema whose type error, for a YAML number, says to quote it and why: `learningRate: 0.08`
 * reads as a float, and the spec holds none.
 */
export function numberAsString(): z.ZodString {
  return z.string({
    error: (issue) =>
      typeof issue.input === 'number'
        ? `expected a string, got the number ${issue.input}: write "${issue.input}" in quotes, since numbers with fractions are written as strings in this API (no floats in spec, which clients would round differently)`
        : undefined,
  });
}

/** A finite decimal number written as a string, optionally within a range: the API keeps floats out of spec (Kubernetes API conventions). */
export function decimalString(range?: DecimalRange): z.ZodString {
  const rules: Rule<string>[] = [{ rule: `self.matches(${celString(DECIMAL)})`, message: DECIMAL_MESSAGE, check: (s) => decimalRe.test(s) }];
  if (range) {
    const { above, atLeast, atMost, below } = range;
    const bounds = [
      above !== undefined && { cel: `double(self) > ${celDouble(above)}`, ok: (n: number) => n > above },
      atLeast !== undefined && { cel: `double(self) >= ${celDouble(atLeast)}`, ok: (n: number) => n >= atLeast },
      atMost !== undefined && { cel: `double(self) <= ${celDouble(atMost)}`, ok: (n: number) => n <= atMost },
      below !== undefined && { cel: `double(self) < ${celDouble(below)}`, ok: (n: number) => n < below },
    ].filter((b) => b !== false);
    rules.push({
      // Malformed values are reported by the rule above; guarding here keeps double() from failing.
      rule: `!self.matches(${celString(DECIMAL)}) || (${bounds.map((b) => b.cel).join(' && ')})`,
      message: range.message,
      check: (s) => !decimalRe.test(s) || bounds.every((b) => b.ok(Number(s))),
    });
  }
  return withRules(numberAsString().max(32), rules);
}

/** Whether a string is a decimal `decimalString` accepts, for rules that compare two of them. */
export const isDecimal = (s: string): boolean => decimalRe.test(s);
/** The CEL twin of isDecimal. */
export const celIsDecimal = (expr: string): string => `${expr}.matches(${celString(DECIMAL)})`;

/** Any finite decimal number written as a string, e.g. "0.18". */
export const decimal = decimalString();

const FRACTION = '^0?[.][0-9]*[1-9][0-9]*$';
const fractionRe = new RegExp(FRACTION);

/** A fraction strictly between 0 and 1, as a string (e.g. "0.2"). */
export const fraction = matching(numberAsString().max(32), FRACTION, 'must be a fraction between 0 and 1 (both excluded) written as a string, e.g. "0.2"');

/** Whether a string is a fraction `fraction` accepts, for rules that compare two of them. */
export const isFraction = (s: string): boolean => fractionRe.test(s);
/** The CEL twin of isFraction: guards double() in rules that compare fractions. */
export const celIsFraction = (expr: string): string => `${expr}.matches(${celString(FRACTION)})`;

// Kubernetes' quantity grammar (k8s.io/apimachinery resource.Quantity), for the zod twin of isQuantity().
const QUANTITY = /^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)))?$/;
const SUFFIX_EXPONENT: Record<string, [base: bigint, power: number]> = {
  n: [10n, -9], u: [10n, -6], m: [10n, -3], '': [10n, 0], k: [10n, 3], M: [10n, 6], G: [10n, 9], T: [10n, 12], P: [10n, 15], E: [10n, 18],
  Ki: [2n, 10], Mi: [2n, 20], Gi: [2n, 30], Ti: [2n, 40], Pi: [2n, 50], Ei: [2n, 60],
};

/** A quantity as an exact fraction num / den, so "1Gi" and "1073741824" compare equal, as quantity().compareTo() does. */
export function parseQuantity(value: number | string): { num: bigint; den: bigint } | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? { num: BigInt(value), den: 1n } : undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  const sign = value.startsWith('-') ? -1n : 1n;
  const [whole = '', frac = ''] = m[1]!.split('.');
  let num = sign * BigInt((whole || '0') + frac);
  let den = 10n ** BigInt(frac.length);
  const suffix = m[3] ?? '';
  let base = 10n;
  let power: number;
  if (/^[eE]./.test(suffix)) {
    if (!/^[eE][+-]?[0-9]+$/.test(suffix)) return undefined; // a fractional exponent is no quantity; a lone "E" is exa
    power = Number(suffix.slice(1));
    if (Math.abs(power) > 1000) return undefined;
  } else {
    [base, power] = SUFFIX_EXPONENT[suffix]!;
  }
  if (power >= 0) num *= base ** BigInt(power);
  else den *= base ** BigInt(-power);
  return { num, den };
}

const compareQuantities = (a: { num: bigint; den: bigint }, b: { num: bigint; den: bigint }): number => {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

/** A Kubernetes resource quantity ("500m", "2Gi", 4); checked by the map that holds it (resourceMap). */
export const quantity = z.union([z.int(), z.string().max(64)]).meta({ 'x-kubernetes-int-or-string': true });

export const modelRef = z
  .object({ name: objectName.describe('Name of the RegisteredModel in the same namespace.') })
  .describe('Reference to a RegisteredModel in the same namespace.');

/** Where artifacts live: a local path (file://, for the local cluster and tests) or a GCS prefix (gs://). */
export const artifactUri = matching(
  z.string().max(1024),
  '^(file:///|gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/|$))',
  'must be a file:///path or gs://bucket/prefix URI with a valid bucket name, e.g. "gs://my-bucket/models"',
);

// k8s.io/apimachinery validation: IsQualifiedName (label keys, node selector keys, resource names) and IsValidLabelValue.
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export function isQualifiedName(key: string): boolean {
  const parts = key.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1)!;
  const prefix = parts.length === 2 ? parts[0]! : undefined;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length >= 1 && name.length <= 63 && LABEL_NAME.test(name);
}
export const isLabelValue = (value: string): boolean => value === '' || (value.length <= 63 && LABEL_NAME.test(value));

const QUALIFIED_KEYS =
  'must be a Kubernetes qualified name: an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit, e.g. "cloud.google.com/gke-nodepool"';
const LABEL_VALUES = 'must be a label value: empty, or up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';

/** Node labels to match: qualified-name keys and label values, as the API server checks on the Pod. */
export const labelMap = withRules(z.record(z.string().max(316), z.string().max(63)).meta({ maxProperties: 64 }), [
  {
    rule: 'self.all(k, !format.qualifiedName().validate(k).hasValue())',
    message: `every key ${QUALIFIED_KEYS}`,
    messageExpression: `'key "' + self.filter(k, format.qualifiedName().validate(k).hasValue())[0] + ${celString(`" ${QUALIFIED_KEYS}`)}`,
    messageOf: (m) => `key "${Object.keys(m).find((k) => !isQualifiedName(k))}" ${QUALIFIED_KEYS}`,
    check: (m) => Object.keys(m).every(isQualifiedName),
  },
  {
    rule: 'self.all(k, !format.labelValue().validate(self[k]).hasValue())',
    message: `every value ${LABEL_VALUES}`,
    messageExpression: `'the value of "' + self.filter(k, format.labelValue().validate(self[k]).hasValue())[0] + ${celString(`" ${LABEL_VALUES}`)}`,
    messageOf: (m) => `the value of "${Object.keys(m).find((k) => !isLabelValue(m[k]!))}" ${LABEL_VALUES}`,
    check: (m) => Object.values(m).every(isLabelValue),
  },
]).refine((m) => Object.keys(m).length <= 64, 'must have at most 64 entries'); // maxProperties' zod twin

/** core/v1 Toleration, with the fields Orchard passes through; the rules are the API server's own Pod checks. */
export const toleration = withRules(
  z.object({
    key: z.string().max(316).optional().describe('Taint key the toleration applies to; empty matches all keys (then operator must be Exists).'),
    operator: z.enum(['Exists', 'Equal']).optional().describe('Exists or Equal (default Equal).'),
    value: z.string().max(63).optional().describe('Taint value to match with operator Equal; empty with operator Exists.'),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional().describe('Taint effect to match; empty matches all effects.'),
    tolerationSeconds: z.int().min(0).optional().describe('How long a NoExecute taint is tolerated before eviction; only with effect NoExecute.'),
  }),
  [
    {
      rule: "!has(self.key) || self.key == '' || !format.qualifiedName().validate(self.key).hasValue()",
      message: 'key must be a taint key (a Kubernetes qualified name), e.g. "nvidia.com/gpu"',
      fieldPath: '.key',
      check: (t) => !t.key || isQualifiedName(t.key),
    },
    {
      rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
      message: 'a toleration without a key matches every taint and needs operator Exists: set key or operator Exists',
      fieldPath: '.operator',
      check: (t) => !!t.key || t.operator === 'Exists',
    },
    {
      rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: 'value must be empty with operator Exists: remove value, or use operator Equal to match it',
      fieldPath: '.value',
      check: (t) => t.operator !== 'Exists' || !t.value,
    },
    {
      rule: "!has(self.value) || !format.labelValue().validate(self.value).hasValue()",
      message: 'value must be a label value: up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
      fieldPath: '.value',
      check: (t) => t.value === undefined || isLabelValue(t.value),
    },
    {
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: 'tolerationSeconds applies only to effect NoExecute: set effect NoExecute or remove tolerationSeconds',
      fieldPath: '.tolerationSeconds',
      check: (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    },
  ],
).describe('A toleration of a node taint (core/v1 Toleration).');

// The rules sit on the map rather than on each value, so the API server and zod report the same
// path (the API server would write a value's path as requests[memory], zod as requests.memory).
// isQuantity() takes a bare suffix ("Gi", "+", ".") for 0: a number must come first here.
const CEL_BAD_QUANTITY =
  "!(type(self[k]) == int ? self[k] >= 0 : isQuantity(self[k]) && self[k].matches('^[+-]?[.]?[0-9]') && !quantity(self[k]).isLessThan(quantity('0')))";
const isGoodQuantity = (q: number | string): boolean => (parseQuantity(q)?.num ?? -1n) >= 0n;

const resourceMap = (field: string, description: string) =>
  withRules(z.record(z.string().max(253), quantity).meta({ maxProperties: 16 }), [
    {
      rule: 'self.all(k, !format.qualifiedName().validate(k).hasValue())',
      message: 'must have resource names as keys, e.g. "cpu", "memory" or "nvidia.com/gpu"',
      check: (m) => Object.keys(m).every(isQualifiedName),
    },
    {
      rule: `!self.exists(k, ${CEL_BAD_QUANTITY})`,
      message: `resources.${field} must hold Kubernetes quantities of 0 or more, such as "500m", "2Gi" or "4"`,
      messageExpression:
        `self.filter(k, ${CEL_BAD_QUANTITY}).map(k, 'resources.${field}.' + k + ' is ' + string(self[k]) + ', not a Kubernetes quantity of 0 or more: write it like "500m", "2Gi" or "4"')[0]`,
      messageOf: (m) => {
        const [k, q] = Object.entries(m).find(([, q]) => !isGoodQuantity(q))!;
        return `resources.${field}.${k} is ${String(q)}, not a Kubernetes quantity of 0 or more: write it like "500m", "2Gi" or "4"`;
      },
      check: (m) => Object.values(m).every(isGoodQuantity),
    },
  ])
    .refine((m) => Object.keys(m).length <= 16, 'must have at most 16 resources') // maxProperties' zod twin
    .optional()
    .describe(description);

/** Whether a request is above its limit, for the zod twin of quantity().compareTo(). */
const above = (request: number | string, limit: number | string | undefined): boolean => {
  const [a, b] = [parseQuantity(request), limit === undefined ? undefined : parseQuantity(limit)];
  return a !== undefined && b !== undefined && compareQuantities(a, b) > 0;
};
// Extended resources (a domain outside kubernetes.io, e.g. nvidia.com/gpu) and huge pages cannot be
// overcommitted: the Pod API wants a limit, equal to the request (IsOvercommitAllowed).
const overcommittable = (name: string): boolean => (!name.includes('/') || name.includes('kubernetes.io/')) && !name.startsWith('hugepages-');
const CEL_OVERCOMMITTABLE = "((!k.contains('/') || k.contains('kubernetes.io/')) && !k.startsWith('hugepages-'))";
const CEL_UNMATCHED_LIMIT =
  `!${CEL_OVERCOMMITTABLE} && !(has(self.limits) && k in self.limits && isQuantity(string(self.requests[k])) && isQuantity(string(self.limits[k])) && ` +
  'quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) == 0)';
const equalQuantities = (a: number | string, b: number | string | undefined): boolean => {
  const [x, y] = [parseQuantity(a), b === undefined ? undefined : parseQuantity(b)];
  return x !== undefined && y !== undefined && compareQuantities(x, y) === 0;
};

const CEL_ABOVE_LIMIT =
  'k in self.limits && isQuantity(string(self.requests[k])) && isQuantity(string(self.limits[k])) && ' +
  'quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0';

export const resources = withRules(
  z.object({
    requests: resourceMap('requests', 'Minimum resources, e.g. {cpu: "1", memory: "2Gi"}.'),
    limits: resourceMap('limits', 'Maximum resources, e.g. {memory: "4Gi"}; each at least the request of the same resource.'),
  }),
  [
    {
      rule: `!has(self.requests) || !has(self.limits) || !self.requests.exists(k, ${CEL_ABOVE_LIMIT})`,
      message: 'a request is above the limit of the same resource: lower resources.requests or raise resources.limits',
      messageExpression:
        `self.requests.filter(k, ${CEL_ABOVE_LIMIT}).map(k, 'resources.requests.' + k + ' (' + string(self.requests[k]) + ') is above ` +
        `resources.limits.' + k + ' (' + string(self.limits[k]) + '): lower the request or raise the limit')[0]`,
      messageOf: (r) => {
        const [k, q] = Object.entries(r.requests!).find(([k, q]) => above(q, r.limits![k]))!;
        return `resources.requests.${k} (${String(q)}) is above resources.limits.${k} (${String(r.limits![k])}): lower the request or raise the limit`;
      },
      fieldPath: '.requests',
      check: (r) => Object.entries(r.requests ?? {}).every(([k, q]) => !above(q, r.limits?.[k])),
    },
    {
      rule: `!has(self.requests) || !self.requests.exists(k, ${CEL_UNMATCHED_LIMIT})`,
      message: 'an extended resource (such as nvidia.com/gpu) or huge pages cannot be overcommitted: set resources.limits equal to the request',
      messageExpression:
        `self.requests.filter(k, ${CEL_UNMATCHED_LIMIT}).map(k, 'resources.requests.' + k + ' cannot be overcommitted: ` +
        `set resources.limits.' + k + ' equal to the request, or request it through limits alone')[0]`,
      messageOf: (r) => {
        const k = Object.keys(r.requests!).find((k) => !overcommittable(k) && !equalQuantities(r.requests![k]!, r.limits?.[k]))!;
        return `resources.requests.${k} cannot be overcommitted: set resources.limits.${k} equal to the request, or request it through limits alone`;
      },
      fieldPath: '.requests',
      check: (r) => Object.entries(r.requests ?? {}).every(([k, q]) => overcommittable(k) || equalQuantities(q, r.limits?.[k])),
    },
  ],
).describe('Compute resources of the main container (core/v1 ResourceRequirements). Unset fields come from the operator defaults.');

/** Scheduling and identity of a Pod the operator creates; unset fields come from the operator defaults. */
export const podOptions = {
  resources: resources.optional(),
  nodeSelector: labelMap.optional().describe('Node labels the Pod must match, added to any the operator sets itself (e.g. the GKE accelerator label).'),
  tolerations: z.array(toleration).max(32).optional().describe('Tolerations added to the Pod, e.g. for a dedicated node pool.'),
  serviceAccountName: objectName
    .optional()
    .describe('ServiceAccount the Pod runs as; on GKE, the one bound to a Google service account through Workload Identity for bucket access.'),
};

export const jobOptions = {
  backoffLimit: z.int32().min(0).max(100).optional().describe('Retries of a failed Pod before the Job fails (default from the operator, 2).'),
  activeDeadlineSeconds: z.int().min(1).optional().describe('Wall-clock limit for the whole Job; past it the run fails with DeadlineExceeded.'),
  ttlSecondsAfterFinished: z.int32().min(0).optional().describe('Delete the finished Job (not this resource) after this many seconds.'),
};

export const conditionStatus = z.enum(['True', 'False', 'Unknown']);

/** metav1.Condition. */
export const condition = z.object({
  type: z.string().max(316).describe('Condition type, e.g. Succeeded, Ready, Drifted.'),
  status: conditionStatus.describe('True, False or Unknown.'),
  reason: z.string().max(1024).describe('CamelCase cause of the current status, e.g. Training or JobFailed.'),
  message: z.string().max(32768).describe('What happened and, when something is wrong, what to do about it.'),
  observedGeneration: z.int().min(0).optional().describe('metadata.generation the condition was computed from.'),
  lastTransitionTime: z.string().describe('When status last changed (RFC 3339).'),
});
export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
  .describe('Observed state as conditions (Kubernetes API conventions).');

/** A table of metric name → value; values are decimal strings, so status never carries floats. */
export const metricTable = z.record(z.string().max(64), z.string().max(64));

export const observedGeneration = z.int().min(0).optional().describe('metadata.generation this status reflects.');

/** One feature's drift against the training reference, as the drift monitor reports it. */
export const featureDrift = z.object({
  name: z.string().describe('Model input (or "prediction").'),
  test: z.string().describe('Statistical test used, e.g. PSI, KS, ChiSquare, JensenShannon, Wasserstein.'),
  score: z.string().describe('Test statistic or p-value, as a decimal string.'),
  drifted: z.boolean().describe('Whether the score crossed the test\'s threshold.'),
});

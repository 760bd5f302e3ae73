// CatBoost model (JSON) → ONNX-ML graph that reproduces CatBoost's own predictions, categorical
// features included: one-hot splits, CTRs of single features and of feature combinations, unseen
// categories and missing values, evaluated the way CatBoost's CPU evaluator does.
//
// Graph outline:
//   numeric input (float) ─Cast→ double ─────────────────────────────┐
//   categorical input (string) ─LabelEncoder→ one-hot bin (j+1 | 0) ──┤
//            └─LabelEncoder→ CTR value (single-feature projections) ─┤
//            └─LabelEncoder→ hash ─int64 CalcHash fold─LabelEncoder→ CTR value (combinations)
//                                                                     ├─Concat→ TreeEnsemble (double)
//   → scale·Σ + bias → raw → inverse target transform | sigmoid | softmax
import type { InputSchema } from '../features/schema.js';
import { catFeatureHash } from './cityhash.js';
import type { CatboostModel, Ctr, CtrElement, Split, TreeNode } from './catboost-json.js';
import { DataType, encodeModel, type AttrValue, type Node, type Tensor, type ValueInfo } from './onnx-proto.js';

/** Thrown when the model uses something the compiler cannot reproduce exactly. */
export class ExportError extends Error {
  override name = 'ExportError';
}

export interface CompileOptions {
  model: CatboostModel;
  schema: InputSchema;
  /** Every categorical string seen in the training data, per model input. Strings outside it are scored as unseen. */
  vocabulary: Map<string, Iterable<string>>;
  producerVersion: string;
  /** Duan's smearing factor the trainer estimated, for a Log or Log1p target with estimate Mean. */
  targetSmearing?: number;
  metadata?: Record<string, string>;
}

export interface CompiledModel {
  onnx: Uint8Array;
  summary: { trees: number; nodes: number; ctrs: number; combinationCtrs: number; oneHotFeatures: number; outputs: string[] };
}

const ML = 'ai.onnx.ml';
/** CalcHash multiplier, catboost/libs/model/hash.h. */
const M = 0x4906ba494954cb65n;
const U64 = (1n << 64n) - 1n;
const EMPTY_BUCKET_KEY = U64; // an empty-bucket record every exported table carries; not a real key
const TREE_MODE = { GT: 3, EQ: 4 } as const;

export function calcHash(a: bigint, b: bigint): bigint {
  return (M * ((a + M * b) & U64)) & U64;
}

/** The sign-extended 64-bit form of a categorical hash that CTR keys fold in. */
function sext(hash32: number): bigint {
  return BigInt.asUintN(64, BigInt(hash32 | 0));
}

/** CTR value as TModelCtr::Calc computes it: f32, one rounding per operation. */
export function ctrValue(ctr: Pick<Ctr, 'prior_numerator' | 'prior_denomerator' | 'shift' | 'scale'>, n: number, d: number): number {
  const f = Math.fround;
  const num = f(f(n) + f(ctr.prior_numerator));
  const den = f(f(d) + f(ctr.prior_denomerator));
  return f(f(f(num / den) + f(ctr.shift)) * f(ctr.scale));
}

/** (n, d) of a table record for a CTR, after static_ctr_provider.cpp's CalcCtrs. */
function ctrCounts(ctr: Ctr, cells: number[], counterDenominator: number): [number, number] {
  switch (ctr.ctr_type) {
    case 'Borders': {
      let n = 0;
      let d = 0;
      cells.forEach((c, i) => {
        d += c;
        if (i > ctr.target_border_idx) n += c;
      });
      return [n, d];
    }
    case 'Buckets':
      return [cells[ctr.target_border_idx] ?? 0, cells.reduce((a, b) => a + b, 0)];
    case 'BinarizedTargetMeanValue':
    case 'FloatTargetMeanValue':
      return [cells[0] ?? 0, cells[1] ?? 0];
    case 'Counter':
    case 'FeatureFreq':
      return [cells[0] ?? 0, counterDenominator];
  }
}

function unseenCounts(ctr: Ctr, counterDenominator: number): [number, number] {
  return ctr.ctr_type === 'Counter' || ctr.ctr_type === 'FeatureFreq' ? [0, counterDenominator] : [0, 0];
}

class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  private counter = 0;

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  add(opType: string, inputs: string[], attributes: Record<string, AttrValue> = {}, options: { domain?: string; output?: string } = {}): string {
    const output = options.output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [output], name: this.fresh(`n_${opType}`), attributes, ...(options.domain ? { domain: options.domain } : {}) });
    return output;
  }

  constant(hint: string, tensor: Omit<Tensor, 'name'>): string {
    const name = this.fresh(hint);
    this.initializers.push({ ...tensor, name });
    return name;
  }

  scalarDouble(v: number): string {
    return this.constant('c', { dims: [], dataType: DataType.DOUBLE, data: Float64Array.of(v) });
  }

  scalarFloat(v: number): string {
    return this.constant('c', { dims: [], dataType: DataType.FLOAT, data: Float32Array.of(v) });
  }

  scalarInt64(v: bigint): string {
    return this.constant('c', { dims: [], dataType: DataType.INT64, data: BigInt64Array.of(BigInt.asIntN(64, v)) });
  }
}

interface TreeColumn {
  name: string; // a double [N,1] value
}

export function compileCatboostModel(options: CompileOptions): CompiledModel {
  const { model, schema } = options;
  const info = model.features_info;
  const floats = info.float_features;
  const cats = info.categorical_features;
  const ctrs = info.ctrs;
  const g = new GraphBuilder();

  const inputAt = (flat: number, want: 'Numeric' | 'Categorical') => {
    const input = schema.inputs[flat];
    if (!input || input.type !== want) {
      throw new ExportError(`model feature #${flat} is ${want} but the input schema has ${input ? `${input.type} "${input.name}"` : 'no such input'}: the model was not trained on this prepared data`);
    }
    return input.name;
  };

  // Inputs: one per model input column, [N, 1].
  const graphInputs: ValueInfo[] = schema.inputs.map((i) => ({ name: i.name, elemType: i.type === 'Numeric' ? DataType.FLOAT : DataType.STRING, shape: ['N', 1] }));

  // Vocabulary and hashes per categorical feature (by CatBoost cat feature index).
  const catName = new Map<number, string>();
  const catVocab = new Map<number, { strings: string[]; hashes: number[] }>();
  for (const c of cats) {
    const name = inputAt(c.flat_feature_index, 'Categorical');
    catName.set(c.feature_index, name);
    const strings = [...new Set(options.vocabulary.get(name) ?? [])].sort();
    catVocab.set(c.feature_index, { strings, hashes: strings.map(catFeatureHash) });
  }
  checkPoolHashes(model, catVocab);
  const floatByIndex = new Map(floats.map((f) => [f.feature_index, f]));

  // Tree feature columns, created on first use.
  const columns: TreeColumn[] = [];
  const columnIndex = new Map<string, number>();
  const column = (key: string, build: () => string): number => {
    let i = columnIndex.get(key);
    if (i === undefined) {
      i = columns.length;
      columns.push({ name: build() });
      columnIndex.set(key, i);
    }
    return i;
  };

  const floatColumn = (index: number): number =>
    column(`float:${index}`, () => g.add('Cast', [inputAt(floatByIndex.get(index)!.flat_feature_index, 'Numeric')], { to: { int: DataType.DOUBLE } }));

  const oneHotColumn = (catIndex: number): number =>
    column(`onehot:${catIndex}`, () => {
      const values = cats.find((c) => c.feature_index === catIndex)?.values ?? [];
      const bin = new Map(values.map((v, j) => [v | 0, j + 1]));
      const vocab = catVocab.get(catIndex)!;
      const keys: string[] = [];
      const bins: number[] = [];
      vocab.strings.forEach((s, i) => {
        const b = bin.get(vocab.hashes[i]!);
        if (b !== undefined) {
          keys.push(s);
          bins.push(b);
        }
      });
      // No training string hits a listed value (possible only for hashes from another vocabulary): the bin is always 0.
      const encoded = g.add(
        'LabelEncoder',
        [catName.get(catIndex)!],
        { keys_strings: { strings: keys.length ? keys : ['\u0000never'] }, values_floats: { floats: keys.length ? bins : [0] }, default_float: { float: 0 } },
        { domain: ML },
      );
      return g.add('Cast', [encoded], { to: { int: DataType.DOUBLE } });
    });

  // 64-bit categorical hash per feature, for combination keys.
  const hashCache = new Map<number, string>();
  const hashOf = (catIndex: number): string => {
    let name = hashCache.get(catIndex);
    if (!name) {
      const vocab = catVocab.get(catIndex)!;
      const known = new Set(vocab.hashes);
      // Strings outside the vocabulary get a hash no vocabulary string has, so every key they form is unseen.
      let unseen = 0x7fffffff;
      while (known.has(unseen)) unseen--;
      name = g.add(
        'LabelEncoder',
        [catName.get(catIndex)!],
        {
          keys_strings: { strings: vocab.strings.length ? vocab.strings : ['\u0000never'] },
          values_int64s: { ints: vocab.strings.length ? vocab.hashes.map((h) => BigInt(h)) : [BigInt(unseen)] },
          default_int64: { int: unseen },
        },
        { domain: ML },
      );
      hashCache.set(catIndex, name);
    }
    return name;
  };

  const elementValue = (e: CtrElement): string => {
    if (e.combination_element === 'cat_feature_value') return hashOf(e.cat_feature_index);
    if (e.combination_element === 'cat_feature_exact_value') {
      return g.add('Cast', [g.add('Equal', [hashOf(e.cat_feature_index), g.scalarInt64(BigInt(e.value))])], { to: { int: DataType.INT64 } });
    }
    const f = floatByIndex.get(e.float_feature_index);
    if (!f) throw new ExportError(`CTR uses float feature ${e.float_feature_index}, which the model does not describe`);
    const x = inputAt(f.flat_feature_index, 'Numeric');
    let bit = g.add('Greater', [x, g.scalarFloat(Math.fround(e.border))]);
    if (f.nan_value_treatment === 'AsTrue') bit = g.add('Or', [g.add('IsNaN', [x]), bit]);
    return g.add('Cast', [bit], { to: { int: DataType.INT64 } });
  };

  // Projection key columns (int64 [N,1]), shared by the CTRs of one projection.
  const keyCache = new Map<string, string>();
  const projectionKey = (elements: CtrElement[]): string => {
    const id = JSON.stringify(elements);
    let key = keyCache.get(id);
    if (!key) {
      const m = g.scalarInt64(M);
      // key = CalcHash(key, v) = M·(key + M·v), wrapping mod 2^64, from key = 0.
      let folded: string | undefined;
      for (const e of elements) {
        const inner = g.add('Mul', [m, elementValue(e)]);
        folded = g.add('Mul', [m, folded === undefined ? inner : g.add('Add', [folded, inner])]);
      }
      if (folded === undefined) throw new ExportError('a CTR with an empty projection');
      key = folded;
      keyCache.set(id, key);
    }
    return key;
  };

  let combinationCtrs = 0;
  const ctrColumn = (ctrIndex: number): number =>
    column(`ctr:${ctrIndex}`, () => {
      const ctr = ctrs[ctrIndex]!;
      const table = model.ctr_data?.[ctr.identifier];
      if (!table) throw new ExportError(`CTR table ${ctr.identifier} is missing from ctr_data: re-export the model JSON with the training pool`);
      const denominator = table.counter_denominator ?? 0;
      const unseen = ctrValue(ctr, ...unseenCounts(ctr, denominator));
      const values = new Map<bigint, number>();
      for (let i = 0; i + table.hash_stride <= table.hash_map.length; i += table.hash_stride) {
        const key = BigInt(table.hash_map[i]!);
        if (key === EMPTY_BUCKET_KEY) continue;
        const cells = table.hash_map.slice(i + 1, i + table.hash_stride).map(Number);
        values.set(key, ctrValue(ctr, ...ctrCounts(ctr, cells, denominator)));
      }
      const single = ctr.elements.length === 1 && ctr.elements[0]!.combination_element === 'cat_feature_value' ? ctr.elements[0]! : undefined;
      let value: string;
      if (single && single.combination_element === 'cat_feature_value') {
        // One categorical feature: map each known string straight to its CTR value.
        const vocab = catVocab.get(single.cat_feature_index)!;
        const keys: string[] = [];
        const vals: number[] = [];
        vocab.strings.forEach((s, i) => {
          const v = values.get(calcHash(0n, sext(vocab.hashes[i]!)));
          if (v !== undefined && !Object.is(v, unseen)) {
            keys.push(s);
            vals.push(v);
          }
        });
        value = g.add(
          'LabelEncoder',
          [catName.get(single.cat_feature_index)!],
          { keys_strings: { strings: keys.length ? keys : ['\u0000never'] }, values_floats: { floats: keys.length ? vals : [unseen] }, default_float: { float: unseen } },
          { domain: ML },
        );
      } else {
        combinationCtrs++;
        const keys = [...values.keys()];
        value = g.add(
          'LabelEncoder',
          [projectionKey(ctr.elements)],
          {
            keys_int64s: { ints: keys.length ? keys.map((k) => BigInt.asIntN(64, k)) : [0n] },
            values_floats: { floats: keys.length ? keys.map((k) => values.get(k)!) : [unseen] },
            default_float: { float: unseen },
          },
          { domain: ML },
        );
      }
      return g.add('Cast', [value], { to: { int: DataType.DOUBLE } });
    });

  // split_index → CTR and border: bin features are float borders, then one-hot values, then CTR borders.
  const floatBins = floats.reduce((n, f) => n + f.borders.length, 0);
  const oneHotBins = cats.reduce((n, c) => n + c.values.length, 0);
  const ctrOfSplit = (s: Split): { ctr: number; border: number } => {
    let idx = s.split_index - floatBins - oneHotBins;
    for (let c = 0; c < ctrs.length; c++) {
      const borders = ctrs[c]!.borders;
      if (idx < borders.length) {
        const border = Math.fround(borders[idx]!);
        if (s.border !== undefined && Math.fround(s.border) !== border) {
          throw new ExportError(`split_index ${s.split_index} points at CTR border ${border} but the split says ${s.border}: unsupported model layout`);
        }
        return { ctr: c, border };
      }
      idx -= borders.length;
    }
    throw new ExportError(`split_index ${s.split_index} is beyond the model's CTR borders: unsupported model layout`);
  };

  interface Decision {
    feature: number;
    mode: number;
    threshold: number;
    missingTrue: 0 | 1;
  }
  const decisionCache = new Map<string, Decision>();
  const decision = (s: Split): Decision => {
    const cacheKey = `${s.split_type}:${s.split_index}`;
    const hit = decisionCache.get(cacheKey);
    if (hit) return hit;
    let d: Decision;
    if (s.split_type === 'FloatFeature') {
      const f = floatByIndex.get(s.float_feature_index!);
      if (!f || s.border === undefined) throw new ExportError(`float split ${s.split_index} names an unknown feature`);
      d = { feature: floatColumn(f.feature_index), mode: TREE_MODE.GT, threshold: Math.fround(s.border), missingTrue: f.nan_value_treatment === 'AsTrue' ? 1 : 0 };
    } else if (s.split_type === 'OneHotFeature') {
      const c = cats.find((x) => x.feature_index === s.cat_feature_index);
      const j = (c?.values ?? []).findIndex((v) => (v | 0) === ((s.value ?? NaN) | 0));
      if (!c || j < 0) throw new ExportError(`one-hot split ${s.split_index} tests a value the model does not list`);
      d = { feature: oneHotColumn(c.feature_index), mode: TREE_MODE.EQ, threshold: j + 1, missingTrue: 0 };
    } else {
      const { ctr, border } = ctrOfSplit(s);
      d = { feature: ctrColumn(ctr), mode: TREE_MODE.GT, threshold: border, missingTrue: 0 };
    }
    decisionCache.set(cacheKey, d);
    return d;
  };

  // Trees → TreeEnsemble (ai.onnx.ml 5), in double so nothing is rounded to f32 on the way.
  const scaleAndBias = model.scale_and_bias ?? [1, [0]];
  const scale = scaleAndBias[0];
  const biasRaw = scaleAndBias[1];
  const oblivious = model.oblivious_trees;
  const D = outputDimension(model);
  const bias = Array.isArray(biasRaw) ? biasRaw : [biasRaw];
  while (bias.length < D) bias.push(0);
  const constantLeaves = new Float64Array(D);

  const nodes = { featureids: [] as number[], modes: [] as number[], splits: [] as number[], missing: [] as number[], trueIds: [] as number[], trueLeaf: [] as number[], falseIds: [] as number[], falseLeaf: [] as number[] };
  const leaves = { targets: [] as number[], weights: [] as number[] };
  const roots: number[] = [];
  const pushNode = (d: Decision): number => {
    nodes.featureids.push(d.feature);
    nodes.modes.push(d.mode);
    nodes.splits.push(d.threshold);
    nodes.missing.push(d.missingTrue);
    nodes.trueIds.push(-1);
    nodes.trueLeaf.push(0);
    nodes.falseIds.push(-1);
    nodes.falseLeaf.push(0);
    return nodes.featureids.length - 1;
  };
  const pushLeaf = (target: number, weight: number): number => {
    leaves.targets.push(target);
    leaves.weights.push(weight);
    return leaves.targets.length - 1;
  };

  let treeCount = 0;
  for (const tree of oblivious) {
    treeCount++;
    const depth = tree.splits.length;
    if (tree.leaf_values.length !== D << depth) {
      throw new ExportError(`oblivious_trees[${treeCount - 1}].leaf_values has ${tree.leaf_values.length} values, expected ${D << depth} (${D} per leaf, ${1 << depth} leaves): the file is damaged, retrain`);
    }
    if (depth === 0) {
      for (let k = 0; k < D; k++) constantLeaves[k]! += tree.leaf_values[k]!;
      continue;
    }
    const decisions = tree.splits.map(decision);
    // One ONNX tree per output dimension; node i at level l tests split depth-1-l, leaves in leaf_values order.
    for (let k = 0; k < D; k++) {
      const base = nodes.featureids.length;
      const internal = (1 << depth) - 1;
      for (let i = 0; i < internal; i++) pushNode(decisions[depth - 1 - Math.floor(Math.log2(i + 1))]!);
      roots.push(base);
      for (let i = 0; i < internal; i++) {
        const falseChild = 2 * i + 1;
        const trueChild = 2 * i + 2;
        if (falseChild < internal) {
          nodes.falseIds[base + i] = base + falseChild;
          nodes.trueIds[base + i] = base + trueChild;
        } else {
          nodes.falseIds[base + i] = pushLeaf(k, tree.leaf_values[(falseChild - internal) * D + k]!);
          nodes.falseLeaf[base + i] = 1;
          nodes.trueIds[base + i] = pushLeaf(k, tree.leaf_values[(trueChild - internal) * D + k]!);
          nodes.trueLeaf[base + i] = 1;
        }
      }
    }
  }
  for (const tree of model.trees) {
    treeCount++;
    const leafValue = (n: TreeNode, k: number): number => {
      const v = (n as { value: number | number[] }).value;
      return Array.isArray(v) ? v[k]! : v;
    };
    if (!('split' in tree)) {
      for (let k = 0; k < D; k++) constantLeaves[k]! += leafValue(tree, k);
      continue;
    }
    for (let k = 0; k < D; k++) {
      // CatBoost follows `right` when the test holds (CalcIndexesNonSymmetric).
      const emit = (n: TreeNode): { id: number; leaf: 0 | 1 } => {
        if (!('split' in n)) return { id: pushLeaf(k, leafValue(n, k)), leaf: 1 };
        const id = pushNode(decision(n.split));
        const t = emit(n.right);
        const f = emit(n.left);
        nodes.trueIds[id] = t.id;
        nodes.trueLeaf[id] = t.leaf;
        nodes.falseIds[id] = f.id;
        nodes.falseLeaf[id] = f.leaf;
        return { id, leaf: 0 };
      };
      roots.push(emit(tree).id);
    }
  }
  if (treeCount === 0) throw new ExportError('the model has no trees (oblivious_trees and trees are empty), so CatBoost cannot score it either: retrain');

  let sum: string;
  if (roots.length === 0) {
    // Every tree is a lone leaf (no split beat none, e.g. under a strong l2LeafReg): no feature is read and the sum is constant.
    sum = g.add('Add', [zeroColumn(g, schema), g.constant('zeros', { dims: [D], dataType: DataType.DOUBLE, data: new Float64Array(D) })]);
  } else {
    const matrix = columns.length === 1 ? columns[0]!.name : g.add('Concat', columns.map((c) => c.name), { axis: { int: 1 } });
    sum = g.add(
      'TreeEnsemble',
      [matrix],
      {
        aggregate_function: { int: 1 },
        n_targets: { int: D },
        post_transform: { int: 0 },
        tree_roots: { ints: roots },
        nodes_featureids: { ints: nodes.featureids },
        nodes_modes: { tensor: { dims: [nodes.modes.length], dataType: DataType.UINT8, data: Uint8Array.from(nodes.modes) } },
        nodes_splits: { tensor: { dims: [nodes.splits.length], dataType: DataType.DOUBLE, data: Float64Array.from(nodes.splits) } },
        nodes_missing_value_tracks_true: { ints: nodes.missing },
        nodes_truenodeids: { ints: nodes.trueIds },
        nodes_trueleafs: { ints: nodes.trueLeaf },
        nodes_falsenodeids: { ints: nodes.falseIds },
        nodes_falseleafs: { ints: nodes.falseLeaf },
        leaf_targetids: { ints: leaves.targets },
        leaf_weights: { tensor: { dims: [leaves.weights.length], dataType: DataType.DOUBLE, data: Float64Array.from(leaves.weights) } },
      },
      { domain: ML },
    );
  }
  if (constantLeaves.some((v) => v !== 0)) sum = g.add('Add', [sum, g.constant('leaves', { dims: [D], dataType: DataType.DOUBLE, data: constantLeaves })]);
  if (scale !== 1) sum = g.add('Mul', [sum, g.scalarDouble(scale)]);
  const raw = g.add('Add', [sum, g.constant('bias', { dims: [D], dataType: DataType.DOUBLE, data: Float64Array.from(bias) })], {}, { output: 'raw' });

  const outputs: ValueInfo[] = [{ name: 'raw', elemType: DataType.DOUBLE, shape: ['N', D] }];
  const metadata: Record<string, string> = {};
  if (schema.task === 'Regression') {
    const target = schema.features.target;
    let y = g.add('Reshape', [raw, g.constant('shape', { dims: [1], dataType: DataType.INT64, data: BigInt64Array.of(-1n) })]);
    const smearing = target.transform !== 'None' && target.estimate === 'Mean' ? meanSmearing(options.targetSmearing) : undefined;
    if (smearing !== undefined) {
      // E[exp(z + e)] = exp(z)·s; for Log1p that is E[1 + y], hence the − 1 after the multiply.
      y = g.add('Mul', [g.add('Exp', [y]), g.scalarDouble(smearing)]);
      if (target.transform === 'Log1p') y = g.add('Sub', [y, g.scalarDouble(1)]);
      metadata.targetSmearing = String(smearing);
    } else {
      if (target.transform === 'Log') y = g.add('Exp', [y]);
      if (target.transform === 'Log1p') y = g.add('Sub', [g.add('Exp', [y]), g.scalarDouble(1)]);
    }
    if (target.transform !== 'None') metadata.targetEstimate = target.estimate ?? 'Median';
    const targetScale = target.scale === undefined ? 1 : Number(target.scale);
    y = g.add(targetScale === 1 ? 'Identity' : 'Mul', targetScale === 1 ? [y] : [y, g.scalarDouble(targetScale)], {}, { output: 'prediction' });
    outputs.push({ name: 'prediction', elemType: DataType.DOUBLE, shape: ['N'] });
  } else if (schema.task === 'BinaryClassification') {
    if (D !== 1) throw new ExportError(`a binary model should have 1 output dimension, this one has ${D}`);
    const p = g.add('Sigmoid', [raw]);
    g.add('Concat', [g.add('Sub', [g.scalarDouble(1), p]), p], { axis: { int: 1 } }, { output: 'probabilities' });
    outputs.push({ name: 'probabilities', elemType: DataType.DOUBLE, shape: ['N', 2] });
  } else {
    g.add('Softmax', [raw], { axis: { int: 1 } }, { output: 'probabilities' });
    outputs.push({ name: 'probabilities', elemType: DataType.DOUBLE, shape: ['N', D] });
  }

  const onnx = encodeModel({
    irVersion: 10,
    opsets: [
      { domain: '', version: 21 },
      { domain: ML, version: 5 },
    ],
    producerName: 'orchard',
    producerVersion: options.producerVersion,
    graph: { name: 'catboost', nodes: g.nodes, initializers: g.initializers, inputs: graphInputs, outputs },
    metadata: { task: schema.task, ...(schema.classNames ? { classNames: JSON.stringify(schema.classNames) } : {}), ...metadata, ...options.metadata },
  });
  return {
    onnx,
    summary: {
      trees: treeCount,
      nodes: nodes.featureids.length,
      ctrs: [...columnIndex.keys()].filter((k) => k.startsWith('ctr:')).length,
      combinationCtrs,
      oneHotFeatures: [...columnIndex.keys()].filter((k) => k.startsWith('onehot:')).length,
      outputs: outputs.map((o) => o.name),
    },
  };
}

function meanSmearing(s: number | undefined): number {
  if (s === undefined) throw new ExportError('features.target.estimate is Mean but the trained model has no targetSmearing in metrics.json: retrain it with this Orchard version');
  if (!(Number.isFinite(s) && s > 0)) throw new ExportError(`targetSmearing ${s} in metrics.json is not a positive number: retrain the model`);
  return s;
}

/** A double [N, 1] of zeros, N taken from the first input, for a graph that reads no feature. */
function zeroColumn(g: GraphBuilder, schema: InputSchema): string {
  const first = schema.inputs[0];
  if (!first) throw new ExportError('the input schema has no inputs');
  if (first.type === 'Numeric') return g.add('Mul', [g.add('Cast', [g.add('IsNaN', [first.name])], { to: { int: DataType.DOUBLE } }), g.scalarDouble(0)]);
  const zero = g.add('LabelEncoder', [first.name], { keys_strings: { strings: ['\u0000never'] }, values_floats: { floats: [0] }, default_float: { float: 0 } }, { domain: ML });
  return g.add('Cast', [zero], { to: { int: DataType.DOUBLE } });
}

function outputDimension(model: CatboostModel): number {
  const first = model.oblivious_trees?.[0];
  if (first) return first.leaf_values.length >> first.splits.length;
  const bias = model.scale_and_bias?.[1];
  if (Array.isArray(bias) && bias.length > 0) return bias.length;
  const findLeaf = (n: TreeNode): number => ('split' in n ? findLeaf(n.left) : Array.isArray(n.value) ? n.value.length : 1);
  return model.trees?.[0] ? findLeaf(model.trees[0]) : 1;
}

/** The pool's string → hash map, where present, must agree with our hashing: a cheap guard against a wrong hash. */
function checkPoolHashes(model: CatboostModel, vocab: Map<number, { strings: string[]; hashes: number[] }>): void {
  const ours = new Map<string, number>();
  for (const v of vocab.values()) v.strings.forEach((s, i) => ours.set(s, v.hashes[i]!));
  for (const { hash, value } of model.features_info.cat_features_hash ?? []) {
    const h = ours.get(value);
    if (h !== undefined && h >>> 0 !== hash >>> 0) {
      throw new ExportError(`categorical value "${value}" hashes to ${h >>> 0} here but CatBoost recorded ${hash}: the exporter's hash does not match this CatBoost version`);
    }
  }
}

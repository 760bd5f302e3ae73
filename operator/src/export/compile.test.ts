import { describe, expect, it } from '@jest/globals';
import { catFeatureHash } from './cityhash.js';
import { calcHash, ctrValue } from './compile.js';

const sext = (h: number) => BigInt.asUintN(64, BigInt(h));

describe('CTR keys and values', () => {
  // Table keys recorded in CatBoost's canon test model (python-package/ut/medium/canondata, export_to_python_with_cat_features).
  it('folds CalcHash over the sign-extended categorical hash, then binary conditions', () => {
    expect(calcHash(0n, sext(catFeatureHash('Private')))).toBe(8864790892067322495n);
    expect(calcHash(calcHash(0n, sext(catFeatureHash('Canada'))), 1n)).toBe(5942209973749353715n);
  });

  it('computes the CTR value in f32 with one rounding per operation', () => {
    const ctr = { prior_numerator: 0.5, prior_denomerator: 1, shift: 0, scale: 15 };
    // ((3 + 0.5) / (7 + 1) + 0) * 15 = 6.5625, exact in f32
    expect(ctrValue(ctr, 3, 7)).toBe(6.5625);
    // 1/3 rounds to f32 before the scale: not the f64 result.
    const third = ctrValue({ prior_numerator: 0, prior_denomerator: 0, shift: 0, scale: 3 }, 1, 3);
    expect(third).toBe(Math.fround(Math.fround(1 / 3) * 3));
    expect(Math.fround(third)).toBe(third);
  });
});

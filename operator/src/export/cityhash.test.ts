import { describe, expect, it } from '@jest/globals';
import { catFeatureHash, cityHash64 } from './cityhash.js';

const utf8 = new TextEncoder();

// CatBoost's canonical pairs (signed i32) from its own test data.
const canon: [string, number][] = [
  ['Female', -2114564283],
  ['Male', -1291328762],
  ['0', -1438285038],
  ['1', 1121341681],
  ['?', -1576664757],
];

// CatBoost 1.2.10 cat_features_hash: a CatBoostClassifier trained on one categorical feature and
// saved with save_model(format='json', pool=...); features_info.cat_features_hash lists CatBoost's
// own (unsigned u32) hash of every value, shown here as signed i32. Covers each length class of
// CityHash64 (0, 1-3, 4-8, 9-16, 17-32, 33-64 and >64 bytes, at and around the boundaries, one
// and several 64-byte chunks) in ASCII and multi-byte UTF-8. Comments give the UTF-8 length.
const fromCatBoost: [string, number][] = [
  ["", 797982799], // 0 bytes
  ["P", 78553569], // 1 byte
  ["Yg", 1013675017], // 2 bytes
  ["Uh-", -1106990360], // 3 bytes
  ["31iE", -1353709741], // 4 bytes
  ["ChYgC", -1094854710], // 5 bytes
  ["O76UMFx", -1388414148], // 7 bytes
  ["jp.1vRt ", 984259329], // 8 bytes
  ["ilI8ihN5K", 746624386], // 9 bytes
  ["zRA9a9SkpXz9w3Q", 2012363754], // 15 bytes
  ["qcbnr3yBdGBL-EPH", -673276507], // 16 bytes
  ["s8phP9nhFyJfm-5di", -921027930], // 17 bytes
  ["m7ena8D5VfLDpgyyjV.w5HanSBeVRsf", 797422839], // 31 bytes
  ["11cUzYZAa3u2olZU6uqbgsYlV-vsSKuv", 27603261], // 32 bytes
  ["pX6N1NF2XV5-4wca 7E56w8ZniqT3Ul4-", -1862129872], // 33 bytes
  ["RyoZvKyjc4zzHzLcciTA1bHTuOTNnfwT1d6nRntU8 kRO8qnG.XATGcyJ3Xu3rr", 698053343], // 63 bytes
  ["c9nmxsu.Pn.Wajdk-jgL6YaAdx-6ApA2olTmlEmlVJMNLs_QyakjfoBX60Akchdr", 677582811], // 64 bytes
  ["lAHsiiYMjiibjUjso_.J5wmGMY0w4m6RPAdXCnASQJbyjluNHxfs9mhXGlChiLbIq", 1422028988], // 65 bytes
  ["VXmW7280VRmXvyaJgv3M PUaTFmYdAIewtUlY5Nt.0V-HnG6b30y0NNQ.1GoOiL-J_lasAGEtB..pOUDHeEtq_e zBp72_As1zXgnA9 JcDMvtzwd8pVS 8E0XTL_t5", -1986021879], // 127 bytes
  ["nfGKE0lZVBxDIZLfO3diBn10yMDQuAdrp4U.fOteyLVkSA1oyFRGogiGge5zuTpSnQ4Pejwx nfP3bXhF31Jh_k.pbBsuZt0C0 giEdEz7TBX0pbUvqtCUR3tDJOrBVO", 50814517], // 128 bytes
  [".H4bM xk79vqNPZDsPSce78tdhLIXK9loCq._Bndwk6dV6uj_HN9BJD1IjXoM-rMH8T1YfX0InKQXire1iOTOOx-rHyPwdJSY1rbNPc0vPYY4Uj4SHjETH3BV8HmydMpr", -1974466487], // 129 bytes
  ["DFZ2US5ii_zLyhv.qag5MFw8kAMqcBdmL_TjBSdj7iW9QktPpc_OVWvvGiq_MFd3.Bib5m5ocaUoJov7i94PhP2t675cb7wJa4cyacl p0MDY0W.LRQGZXP09Te6.k80npAoKQg_vPdHDw6hdjTKP77RM2WMqe HU4DsuhweaKTVjZRvrSFwFNasovwEERrQadPxn_f.", 1424352681], // 200 bytes
  ["é", 468052468], // 2 bytes
  ["éx", -1387707253], // 3 bytes
  ["éxx", 653466497], // 4 bytes
  ["Z中éx", -976627803], // 7 bytes
  ["😀€a", -1760765393], // 8 bytes
  ["文111中é€x", -164510358], // 15 bytes
  ["😀中ñéñaß", 506259792], // 16 bytes
  ["Z文😀ß🍎ñZ", -806613269], // 17 bytes
  ["文ñ中ß🍎ZZ中Z文añ文ß", 59347843], // 31 bytes
  ["Z🍎a中中éZ😀ééZaña€x", -2002331558], // 32 bytes
  ["🍎1文🍎Z中a中中文1€é1", -1289242613], // 33 bytes
  ["😀aa😀😀a€文文Zé€ZZñ€1文😀文1a中😀aßñx", -621191407], // 63 bytes
  ["🍎1中中Z1中1Z😀é€ß🍎é文11ßñ中😀a😀1😀xZx", -186576429], // 64 bytes
  ["🍎€文Zé文Z中Zßaé🍎😀🍎ß中a文ßéZ€€aa文xx", 1188327576], // 65 bytes
  ["1añßñ中a1ñ🍎😀Z🍎中éa1文😀中ñZßa文ZZ中ZZé中😀a文中ñ€€€中ñ文éññZañé中1文文11Za€1é", 743056270], // 128 bytes
  ["中文", 1814022370], // 6 bytes
  ["😀", 274031362], // 4 bytes
  ["café", 1581531672], // 5 bytes
  ["naïve", -581649870], // 6 bytes
  ["日本語テキスト", 1500918860], // 21 bytes
  ["🍎🍏🍐🍊🍋", -1561157476], // 20 bytes
  ["\u0000", 965637500], // 1 byte
  ["a\u0000b", 723434961], // 3 bytes
  ["\t\n", -1576911757], // 2 bytes
  ["high bytes ÿþ", -315237360], // 15 bytes
];

describe('catFeatureHash', () => {
  it.each(canon)('matches CatBoost for %j', (value, expected) => {
    expect(catFeatureHash(value)).toBe(expected);
  });

  it.each(fromCatBoost)('matches CatBoost 1.2.10 for %j', (value, expected) => {
    expect(catFeatureHash(value)).toBe(expected);
  });

  it('hashes the empty string to the low half of k2', () => {
    expect(catFeatureHash('')).toBe(0x2f90404f);
  });

  it('returns signed int32s', () => {
    const hashes = [...canon, ...fromCatBoost].map(([value]) => catFeatureHash(value));
    expect(hashes.some((h) => h < 0)).toBe(true);
    for (const h of hashes) expect(h).toBe(h | 0);
  });

  it('is the low 32 bits of cityHash64 of the UTF-8 bytes', () => {
    for (const [value] of fromCatBoost) {
      expect(catFeatureHash(value)).toBe(Number(BigInt.asIntN(32, cityHash64(utf8.encode(value)))));
    }
  });

  it('gives the same hash after hashing longer and shorter values', () => {
    const long = 'ü'.repeat(500);
    const expected = Number(BigInt.asIntN(32, cityHash64(utf8.encode(long))));
    expect(catFeatureHash('Male')).toBe(-1291328762);
    expect(catFeatureHash(long)).toBe(expected);
    expect(catFeatureHash('Male')).toBe(-1291328762);
    expect(catFeatureHash(long)).toBe(expected);
  });
});

describe('cityHash64', () => {
  it('returns k2 for no bytes', () => {
    expect(cityHash64(new Uint8Array(0))).toBe(0x9ae16a3b2f90404fn);
  });

  // Full 64-bit values published for ClickHouse's cityHash64 (CityHash 1.0.2, the same v1
  // CityHash64); CatBoost only exposes the low 32 bits.
  it.each([
    ['Moscow', 12507901496292878638n],
    ['How can you write a big system without C++?  -Paul Glick', 6237945311650045625n],
  ])('matches CityHash v1 for %j', (value, expected) => {
    expect(cityHash64(utf8.encode(value))).toBe(expected);
  });

  it('returns unsigned 64-bit values', () => {
    for (const [value] of fromCatBoost) {
      const h = cityHash64(utf8.encode(value));
      expect(h).toBe(BigInt.asUintN(64, h));
    }
  });

  it('hashes only the bytes of a view into a larger buffer', () => {
    const value = utf8.encode('Female');
    const padded = new Uint8Array(value.length + 16).fill(0xaa);
    padded.set(value, 5);
    expect(cityHash64(padded.subarray(5, 5 + value.length))).toBe(cityHash64(value));
    expect(Number(BigInt.asIntN(32, cityHash64(value)))).toBe(-2114564283);
  });
});

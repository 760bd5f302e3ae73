// CityHash64, version 1 (Geoff Pike and Jyrki Alakuijala, Google, 2011), exactly as vendored in
// CatBoost's util/digest/city.cpp. CatBoost hashes categorical feature values with it
// (catboost/libs/cat_feature/cat_feature.cpp: `CityHash64(feature) & 0xffffffff`), and the JSON
// model's one-hot `values` and CTR `cat_feature_exact_value`s hold those hashes.
//
// This is NOT mainline CityHash 1.1+ (which changed HashLen0to16, HashLen17to32, HashLen33to64
// and the >64-byte loop): that returns different hashes, so a library implementation of
// "CityHash64" cannot stand in for this one.
//
// Arithmetic is on unsigned 64-bit values held in BigInts, wrapped after every step that can
// overflow.

// Some primes between 2^63 and 2^64.
const k0 = 0xc3a5c85c97cb3127n;
const k1 = 0xb492b66fbe98f273n;
const k2 = 0x9ae16a3b2f90404fn;
const k3 = 0xc949d7c7509e6557n;
const kMul = 0x9ddfea08eb382d69n;

// BigInt.asUintN(64, …) rather than `& 0xffff…n`: V8 can compile the former to native 64-bit
// arithmetic, which is much cheaper than masking an arbitrary-precision result.
const add = (a: bigint, b: bigint): bigint => BigInt.asUintN(64, a + b);
const sub = (a: bigint, b: bigint): bigint => BigInt.asUintN(64, a - b);
const mul = (a: bigint, b: bigint): bigint => BigInt.asUintN(64, a * b);

/** Bitwise right rotate; `shift` in 0..63. */
function rotate(val: bigint, shift: number): bigint {
  if (shift === 0) return val;
  const s = BigInt(shift);
  return BigInt.asUintN(64, (val >> s) | (val << (64n - s)));
}

function shiftMix(val: bigint): bigint {
  return val ^ (val >> 47n);
}

/** Hash128to64 from city.h: Murmur-inspired mix of two 64-bit words. */
function hashLen16(u: bigint, v: bigint): bigint {
  let a = mul(u ^ v, kMul);
  a ^= a >> 47n;
  let b = mul(v ^ a, kMul);
  b ^= b >> 47n;
  return mul(b, kMul);
}

// Little-endian loads (CatBoost's ReadUnaligned on the little-endian machines it runs on).
const load64 = (d: DataView, offset: number): bigint => d.getBigUint64(offset, true);
const load32 = (d: DataView, offset: number): bigint => BigInt(d.getUint32(offset, true));

function hashLen0to16(buf: DataView, len: number): bigint {
  const n = BigInt(len);
  if (len > 8) {
    const a = load64(buf, 0);
    const b = load64(buf, len - 8);
    return hashLen16(a, rotate(add(b, n), len)) ^ b;
  }
  if (len >= 4) {
    const a = load32(buf, 0);
    return hashLen16(n + (a << 3n), load32(buf, len - 4));
  }
  if (len > 0) {
    const a = buf.getUint8(0);
    const b = buf.getUint8(len >> 1);
    const c = buf.getUint8(len - 1);
    const y = BigInt(a + (b << 8));
    const z = BigInt(len + (c << 2));
    return mul(shiftMix(mul(y, k2) ^ mul(z, k3)), k2);
  }
  return k2;
}

function hashLen17to32(buf: DataView, len: number): bigint {
  const a = mul(load64(buf, 0), k1);
  const b = load64(buf, 8);
  const c = mul(load64(buf, len - 8), k2);
  const d = mul(load64(buf, len - 16), k0);
  return hashLen16(
    add(add(rotate(sub(a, b), 43), rotate(c, 30)), d),
    add(sub(add(a, rotate(b ^ k3, 20)), c), BigInt(len)),
  );
}

/** A 16-byte hash of the 32 bytes at `offset` and the seeds `a`, `b`. Quick and dirty. */
function weakHashLen32WithSeeds(buf: DataView, offset: number, a: bigint, b: bigint): [bigint, bigint] {
  const w = load64(buf, offset);
  const x = load64(buf, offset + 8);
  const y = load64(buf, offset + 16);
  const z = load64(buf, offset + 24);
  a = add(a, w);
  b = rotate(add(add(b, a), z), 21);
  const c = a;
  a = add(add(a, x), y);
  b = add(b, rotate(a, 44));
  return [add(a, z), add(b, c)];
}

function hashLen33to64(buf: DataView, len: number): bigint {
  let z = load64(buf, 24);
  let a = add(load64(buf, 0), mul(add(BigInt(len), load64(buf, len - 16)), k0));
  let b = rotate(add(a, z), 52);
  let c = rotate(a, 37);
  a = add(a, load64(buf, 8));
  c = add(c, rotate(a, 7));
  a = add(a, load64(buf, 16));
  const vf = add(a, z);
  const vs = add(add(b, rotate(a, 31)), c);
  a = add(load64(buf, 16), load64(buf, len - 32));
  z = load64(buf, len - 8);
  b = rotate(add(a, z), 52);
  c = rotate(a, 37);
  a = add(a, load64(buf, len - 24));
  c = add(c, rotate(a, 7));
  a = add(a, load64(buf, len - 16));
  const wf = add(a, z);
  const ws = add(add(b, rotate(a, 31)), c);
  const h = shiftMix(add(mul(add(vf, ws), k2), mul(add(wf, vs), k0)));
  return mul(shiftMix(add(mul(h, k0), vs)), k2);
}

/** CityHash64 v1 of `bytes`, as an unsigned 64-bit integer. */
export function cityHash64(bytes: Uint8Array): bigint {
  return hashView(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength);
}

/** CityHash64 v1 of the first `len` bytes of `buf`. */
function hashView(buf: DataView, len: number): bigint {
  if (len <= 16) return hashLen0to16(buf, len);
  if (len <= 32) return hashLen17to32(buf, len);
  if (len <= 64) return hashLen33to64(buf, len);

  // For strings over 64 bytes hash the end first, then loop over 64-byte chunks keeping 56
  // bytes of state: v, w, x, y and z.
  const n = BigInt(len);
  let x = load64(buf, 0);
  let y = load64(buf, len - 16) ^ k1;
  let z = load64(buf, len - 56) ^ k0;
  let v = weakHashLen32WithSeeds(buf, len - 64, n, y);
  let w = weakHashLen32WithSeeds(buf, len - 32, mul(n, k1), k0);
  z = add(z, mul(shiftMix(v[1]), k1));
  x = mul(rotate(add(z, x), 39), k1);
  y = mul(rotate(y, 33), k1);

  // Walk the 64-byte chunks from the start; the last 1..64 bytes were folded in above.
  let remaining = (len - 1) & ~63;
  let s = 0;
  do {
    x = mul(rotate(add(add(add(x, y), v[0]), load64(buf, s + 16)), 37), k1);
    y = mul(rotate(add(add(y, v[1]), load64(buf, s + 48)), 42), k1);
    x ^= w[1];
    y ^= v[0];
    z = rotate(z ^ w[0], 33);
    v = weakHashLen32WithSeeds(buf, s, mul(v[1], k1), add(x, w[0]));
    w = weakHashLen32WithSeeds(buf, s + 32, add(z, w[1]), y);
    [z, x] = [x, z];
    s += 64;
    remaining -= 64;
  } while (remaining !== 0);
  return hashLen16(
    add(add(hashLen16(v[0], w[0]), mul(shiftMix(y), k1)), z),
    add(hashLen16(v[1], w[1]), x),
  );
}

const utf8 = new TextEncoder();
// Reused UTF-8 buffer for catFeatureHash: encodeInto a scratch buffer is several times cheaper
// than allocating a fresh array per value with encode().
let scratch = new Uint8Array(256);
let scratchView = new DataView(scratch.buffer);

/**
 * CatBoost's hash of a categorical feature value: the low 32 bits of CityHash64 v1 of its UTF-8
 * bytes, as a signed int32 (how the JSON model stores one-hot values; CTR keys sign-extend it).
 */
export function catFeatureHash(value: string): number {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  if (value.length * 3 > scratch.length) {
    scratch = new Uint8Array(value.length * 3);
    scratchView = new DataView(scratch.buffer);
  }
  const { written } = utf8.encodeInto(value, scratch);
  return Number(BigInt.asIntN(32, hashView(scratchView, written)));
}

/*
 * WebAssembly SIMD kernels for core/image/resample.ts (Pillow's 8-bit bicubic passes).
 * Same int32 sums as Pillow per output sample; int32 addition wraps, so summing in any order gives
 * the same result, and the true sums fit in int32 (see clip8 in resample.ts), so results are exact.
 * The caller pads every input and output buffer with 32 spare bytes: vector loads and stores may
 * run past a row's end (reading or writing bytes that are ignored or rewritten later).
 * Build: tools/build_resample_wasm.sh
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define PRECISION_BITS 22
#define HALF (1 << (PRECISION_BITS - 1))

static inline v128_t widen4(const uint8_t *p) {
  v128_t v = wasm_v128_load32_zero(p);
  return wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(v));
}

/* Lanes hold the clipped 8-bit values of four int32 sums (shift, then saturate to 0..255). */
static inline v128_t clip8x4(v128_t s) {
  v128_t q = wasm_i32x4_shr(s, PRECISION_BITS);
  v128_t h = wasm_i16x8_narrow_i32x4(q, q);
  return wasm_u8x16_narrow_i16x8(h, h);
}

/* Writes the pixel's c (2 to 4) channels: all four lanes (the spare ones are rewritten by the next
 * pixel) except for a row's last pixel, whose spare bytes would land on a finished row. */
static inline void store_px(uint8_t *o, v128_t v, int c, int last) {
  if (c == 4 || !last) {
    wasm_v128_store32_lane(o, v, 0);
  } else {
    wasm_v128_store16_lane(o, v, 0);
    if (c == 3) wasm_v128_store8_lane(o + 2, v, 2);
  }
}

static inline uint8_t clip8(int32_t v) {
  int32_t q = v >> PRECISION_BITS;
  return q > 255 ? 255 : q < 0 ? 0 : (uint8_t)q;
}

/*
 * RGB horizontal pass, four taps at a time with i32x4.dot_i16x8_s. Each 22-bit weight w is split as
 * w = hi * 2^11 + lo (lo in 0..2047, |hi| < 2^12), so pixel * part fits the 16-bit lanes; the
 * sum is (sum(p * hi) << 11) + sum(p * lo), equal to sum(p * w) modulo 2^32, hence exact.
 * wv (scratch): per output, per group of four taps, the hi and lo parts as [w0 w1 w2 w3 w0 w1 w2 w3]
 * (taps past the output's count are zero). Pixels: lanes [R0 R1 R2 R3 G0 G1 G2 G3] and
 * [B0 B1 B2 B3 0 0 0 0], so the dot products leave two-tap partial sums reduced at the end.
 */
static void horizontal3(const uint8_t *src, uint8_t *out, int h, int inW, int outW,
                        const int32_t *bounds, const int32_t *weights, int ksize, v128_t *wv) {
  const int inRow = inW * 3, outRow = outW * 3, groups = (ksize + 3) / 4;
  for (int xx = 0; xx < outW; xx++) {
    const int n = bounds[2 * xx + 1];
    for (int g = 0; g < groups; g++) {
      int16_t hi[8], lo[8];
      for (int t = 0; t < 4; t++) {
        const int x = g * 4 + t;
        const int32_t w = x < n ? weights[xx * ksize + x] : 0;
        hi[t] = hi[t + 4] = (int16_t)(w >> 11);
        lo[t] = lo[t + 4] = (int16_t)(w & 2047);
      }
      wv[(xx * groups + g) * 2] = wasm_v128_load(hi);
      wv[(xx * groups + g) * 2 + 1] = wasm_v128_load(lo);
    }
  }
  const v128_t rg = wasm_i8x16_make(0, -1, 3, -1, 6, -1, 9, -1, 1, -1, 4, -1, 7, -1, 10, -1);
  const v128_t b = wasm_i8x16_make(2, -1, 5, -1, 8, -1, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  for (int y = 0; y < h; y++) {
    const uint8_t *row = src + y * inRow;
    uint8_t *o = out + y * outRow;
    for (int xx = 0; xx < outW; xx++) {
      const int n = bounds[2 * xx + 1];
      const uint8_t *p = row + bounds[2 * xx] * 3;
      const v128_t *k = wv + xx * groups * 2;
      v128_t hrg = wasm_i32x4_splat(0), hb = hrg, lrg = hrg, lb = hrg;
      for (int x = 0; x < n; x += 4, p += 12, k += 2) {
        const v128_t v = wasm_v128_load(p);
        const v128_t vrg = wasm_i8x16_swizzle(v, rg), vb = wasm_i8x16_swizzle(v, b);
        hrg = wasm_i32x4_add(hrg, wasm_i32x4_dot_i16x8(vrg, k[0]));
        lrg = wasm_i32x4_add(lrg, wasm_i32x4_dot_i16x8(vrg, k[1]));
        hb = wasm_i32x4_add(hb, wasm_i32x4_dot_i16x8(vb, k[0]));
        lb = wasm_i32x4_add(lb, wasm_i32x4_dot_i16x8(vb, k[1]));
      }
      /* s = [R(taps 0,1) R(2,3) G(0,1) G(2,3)] and [B(0,1) B(2,3) . .] */
      const v128_t srg = wasm_i32x4_add(wasm_i32x4_shl(hrg, 11), lrg);
      const v128_t sb = wasm_i32x4_add(wasm_i32x4_shl(hb, 11), lb);
      const uint32_t r = (uint32_t)wasm_i32x4_extract_lane(srg, 0) + (uint32_t)wasm_i32x4_extract_lane(srg, 1);
      const uint32_t gg = (uint32_t)wasm_i32x4_extract_lane(srg, 2) + (uint32_t)wasm_i32x4_extract_lane(srg, 3);
      const uint32_t bb = (uint32_t)wasm_i32x4_extract_lane(sb, 0) + (uint32_t)wasm_i32x4_extract_lane(sb, 1);
      o[xx * 3] = clip8((int32_t)(r + HALF));
      o[xx * 3 + 1] = clip8((int32_t)(gg + HALF));
      o[xx * 3 + 2] = clip8((int32_t)(bb + HALF));
    }
  }
}

/* Horizontal pass: rows of inW pixels (c channels) to rows of outW pixels. Channels in lanes, or
 * horizontal3 for RGB (which needs wv scratch, see there). */
void horizontal(const uint8_t *src, uint8_t *out, int h, int inW, int outW, int c,
                const int32_t *bounds, const int32_t *weights, int ksize, v128_t *wv) {
  const int inRow = inW * c, outRow = outW * c;
  if (c == 3) {
    horizontal3(src, out, h, inW, outW, bounds, weights, ksize, wv);
    return;
  }
  if (c == 1) {
    for (int y = 0; y < h; y++) {
      const uint8_t *row = src + y * inRow;
      uint8_t *o = out + y * outRow;
      for (int xx = 0; xx < outW; xx++) {
        const int32_t *k = weights + xx * ksize;
        const uint8_t *p = row + bounds[2 * xx];
        const int n = bounds[2 * xx + 1];
        int32_t s = HALF;
        for (int x = 0; x < n; x++) s += (int32_t)p[x] * k[x];
        o[xx] = clip8(s);
      }
    }
    return;
  }
  const v128_t half = wasm_i32x4_splat(HALF);
  int y = 0;
  for (; y + 1 < h; y += 2) { /* two rows share each weight */
    const uint8_t *r0 = src + y * inRow, *r1 = r0 + inRow;
    uint8_t *o0 = out + y * outRow, *o1 = o0 + outRow;
    for (int xx = 0; xx < outW; xx++) {
      const int32_t *k = weights + xx * ksize;
      const int off = bounds[2 * xx] * c, n = bounds[2 * xx + 1];
      const uint8_t *p0 = r0 + off, *p1 = r1 + off;
      v128_t s0 = half, s1 = half;
      for (int x = 0; x < n; x++, p0 += c, p1 += c) {
        v128_t w = wasm_i32x4_splat(k[x]);
        s0 = wasm_i32x4_add(s0, wasm_i32x4_mul(widen4(p0), w));
        s1 = wasm_i32x4_add(s1, wasm_i32x4_mul(widen4(p1), w));
      }
      store_px(o0 + xx * c, clip8x4(s0), c, xx == outW - 1);
      store_px(o1 + xx * c, clip8x4(s1), c, xx == outW - 1);
    }
  }
  for (; y < h; y++) {
    const uint8_t *r0 = src + y * inRow;
    uint8_t *o0 = out + y * outRow;
    for (int xx = 0; xx < outW; xx++) {
      const int32_t *k = weights + xx * ksize;
      const uint8_t *p0 = r0 + bounds[2 * xx] * c;
      const int n = bounds[2 * xx + 1];
      v128_t s0 = half;
      for (int x = 0; x < n; x++, p0 += c)
        s0 = wasm_i32x4_add(s0, wasm_i32x4_mul(widen4(p0), wasm_i32x4_splat(k[x])));
      store_px(o0 + xx * c, clip8x4(s0), c, xx == outW - 1);
    }
  }
}

/* Vertical pass: rows of rowLen bytes, 16 bytes at a time with sums kept in registers. */
void vertical(const uint8_t *src, uint8_t *out, int rowLen, int outH, const int32_t *bounds,
              const int32_t *weights, int ksize) {
  const v128_t half = wasm_i32x4_splat(HALF);
  for (int yy = 0; yy < outH; yy++) {
    const int32_t *k = weights + yy * ksize;
    const int n = bounds[2 * yy + 1];
    const uint8_t *base = src + bounds[2 * yy] * rowLen;
    uint8_t *o = out + yy * rowLen;
    for (int i = 0; i < rowLen; i += 16) {
      v128_t a0 = half, a1 = half, a2 = half, a3 = half;
      const uint8_t *p = base + i;
      for (int y = 0; y < n; y++, p += rowLen) {
        v128_t w = wasm_i32x4_splat(k[y]);
        v128_t v = wasm_v128_load(p);
        v128_t lo = wasm_u16x8_extend_low_u8x16(v), hi = wasm_u16x8_extend_high_u8x16(v);
        a0 = wasm_i32x4_add(a0, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(lo), w));
        a1 = wasm_i32x4_add(a1, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(lo), w));
        a2 = wasm_i32x4_add(a2, wasm_i32x4_mul(wasm_u32x4_extend_low_u16x8(hi), w));
        a3 = wasm_i32x4_add(a3, wasm_i32x4_mul(wasm_u32x4_extend_high_u16x8(hi), w));
      }
      v128_t h0 = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(a0, PRECISION_BITS),
                                          wasm_i32x4_shr(a1, PRECISION_BITS));
      v128_t h1 = wasm_i16x8_narrow_i32x4(wasm_i32x4_shr(a2, PRECISION_BITS),
                                          wasm_i32x4_shr(a3, PRECISION_BITS));
      wasm_v128_store(o + i, wasm_u8x16_narrow_i16x8(h0, h1));
    }
  }
}

/*
 * WebAssembly SIMD kernels for core/image/resample.ts (Pillow's 8-bit bicubic passes).
 * Same int32 sums as Pillow per output sample; int32 addition wraps, so summing in any order gives
 * the same result, and the true sums fit in int32 (see clip8 in resample.ts), so results are exact.
 * The caller pads every input and output buffer with 16 spare bytes: vector loads and stores may
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

/* Horizontal pass: rows of inW pixels (c channels) to rows of outW pixels. Channels in lanes. */
void horizontal(const uint8_t *src, uint8_t *out, int h, int inW, int outW, int c,
                const int32_t *bounds, const int32_t *weights, int ksize) {
  const int inRow = inW * c, outRow = outW * c;
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

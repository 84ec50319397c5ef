import type { RawImage } from '../../../core/image/rawImage';
import { subsampleNearest } from '../../../core/image/resample';

/** Pixel (x, y) holds [x, y, 7]. */
function coordinates(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 7], (y * width + x) * 3);
  return { data, width, height, channels: 3 };
}

describe('subsampleNearest', () => {
  test('each output pixel is the input pixel nearest its centre, unfiltered', () => {
    const out = subsampleNearest(coordinates(10, 6), 4, 3);
    expect([out.width, out.height, out.channels]).toEqual([4, 3, 3]);
    // Centres at (x + 0.5) · 10/4 = 1.25, 3.75, 6.25, 8.75 → columns 1, 3, 6, 8; rows 1, 3, 5.
    const pixels = Array.from({ length: 12 }, (_, i) => [...out.data.subarray(3 * i, 3 * i + 3)]);
    expect(pixels).toEqual([1, 3, 5].flatMap((y) => [1, 3, 6, 8].map((x) => [x, y, 7])));
  });

  test('the same size is a copy; enlarging is refused', () => {
    const img = coordinates(5, 4);
    const same = subsampleNearest(img, 5, 4);
    expect(same.data).toEqual(img.data);
    expect(same.data).not.toBe(img.data);
    expect(() => subsampleNearest(img, 6, 4)).toThrow('subsampling 5x4 to 6x4 would enlarge it');
  });
});

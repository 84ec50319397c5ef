import {
  IMAGE_FORMATS,
  isImageFile,
  isTrainingImageFile,
  OUTPUT_FORMATS,
  OUTPUT_ROWS,
} from '../../../core/image/formats';

test('every output format has one row in the format table, read from its first MIME type and extension', () => {
  expect(OUTPUT_ROWS).toEqual({
    png: { mime: 'image/png', extension: '.png', alpha: true },
    jpeg: { mime: 'image/jpeg', extension: '.jpg', alpha: false },
    webp: { mime: 'image/webp', extension: '.webp', alpha: true },
  });
  const written = IMAGE_FORMATS.filter((f) => f.output).map((f) => f.name);
  expect([...written].sort()).toEqual([...OUTPUT_FORMATS].sort());
});

test('what the server writes it can also read back (every output extension is an input one)', () => {
  for (const f of OUTPUT_FORMATS) {
    expect(isImageFile(`x${OUTPUT_ROWS[f].extension}`)).toBe(true);
    expect(isTrainingImageFile(`x${OUTPUT_ROWS[f].extension.toUpperCase()}`)).toBe(true);
  }
  expect(isImageFile('x.gif')).toBe(true);
  expect(isTrainingImageFile('x.gif')).toBe(false);
  expect(isImageFile('dir.png/readme')).toBe(false);
});

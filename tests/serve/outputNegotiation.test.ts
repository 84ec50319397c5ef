/** POST /translate's response format: format=, else Accept with q-values, else the input's family; 406 in words. */
import express from 'express';
import { negotiateOutputFormat } from '../../serve/outputNegotiation';
import { HttpProblem } from '../../serve/problem';

/** A request as express builds it, with only the headers given (req.accepts reads them). */
function requestWith(accept?: string): express.Request {
  const req = Object.create(express.request) as express.Request;
  Object.defineProperty(req, 'headers', { value: accept === undefined ? {} : { accept } });
  return req;
}

const choose = (accept: string | undefined, input: string | undefined, format?: 'png' | 'jpeg' | 'webp') =>
  negotiateOutputFormat(requestWith(accept), format, input);

test('format= decides, whatever Accept says', () => {
  expect(choose('image/png', 'jpeg', 'webp')).toBe('webp');
  expect(choose('text/html', 'png', 'jpeg')).toBe('jpeg');
});

test('without format= or Accept, the input format family: JPEG in → JPEG, PNG in → PNG, the rest by the table', () => {
  expect(choose(undefined, 'jpeg')).toBe('jpeg');
  expect(choose(undefined, 'png')).toBe('png');
  expect(choose(undefined, 'webp')).toBe('webp');
  for (const lossless of ['bmp', 'tiff', 'gif']) expect(choose(undefined, lossless)).toBe('png');
  expect(choose(undefined, 'heif')).toBe('jpeg');
  expect(choose(undefined, undefined)).toBe('png');
});

test('Accept with wildcards rates every format equally: the input family wins', () => {
  expect(choose('*/*', 'jpeg')).toBe('jpeg');
  expect(choose('image/*', 'jpeg')).toBe('jpeg');
  expect(choose('*/*', 'png')).toBe('png');
  expect(choose('text/html, image/*;q=0.8, */*;q=0.5', 'webp')).toBe('webp');
});

test('Accept q-values rank the formats before the input family does', () => {
  expect(choose('image/jpeg;q=0.5, image/webp', 'png')).toBe('webp');
  expect(choose('image/png;q=0.9, image/jpeg', 'png')).toBe('jpeg');
  expect(choose('image/webp;q=0.2, image/*;q=0.6', 'webp')).toBe('png'); // webp ranked down by its own entry
  // q=0 refuses a type even where a wildcard would allow it.
  expect(choose('image/jpeg;q=0, */*', 'jpeg')).toBe('png');
  expect(choose('image/jpeg', 'png')).toBe('jpeg');
});

test('nothing acceptable: 406, saying what is available and how to ask', () => {
  for (const accept of ['application/json', 'text/html, text/plain;q=0.5', 'image/gif', 'image/*;q=0']) {
    let problem: unknown;
    try {
      choose(accept, 'png');
    } catch (e) {
      problem = e;
    }
    expect(problem).toBeInstanceOf(HttpProblem);
    expect((problem as HttpProblem).status).toBe(406);
    expect((problem as HttpProblem).detail).toBe(
      'Accept allows none of image/png, image/jpeg, image/webp (or pass format=png|jpeg|webp)',
    );
  }
});

import { z } from 'zod';
import { FALSE_WORDS, toBoolean, toNumber, toText, TRUE_WORDS } from '../../../core/config/coerce';
import { field } from '../../../core/cli/fields';
import { loadConfig } from '../../../serve/config';
import { parseTrainOptions } from '../../../train/trainOptions';

test('booleans: the same words everywhere, any case, spaces ignored; others pass through to be refused', () => {
  for (const w of TRUE_WORDS) expect([toBoolean(w), toBoolean(` ${w.toUpperCase()} `)]).toEqual([true, true]);
  for (const w of FALSE_WORDS) expect([toBoolean(w), toBoolean(` ${w.toUpperCase()} `)]).toEqual([false, false]);
  expect(
    ['on', 'off', 'yes', 'no', '1', '0', 'true', 'false'].every((w) => [...TRUE_WORDS, ...FALSE_WORDS].includes(w)),
  ).toBe(true);
  expect(toBoolean('maybe')).toBe('maybe');
  expect(toBoolean(true)).toBe(true);
});

test('numbers: decimals, exponents and radix-prefixed integers; inf only where allowed', () => {
  expect([' 12 ', '+5', '-1.5', '.5', '1e3', '2.', '0x10', '0o17', '0b101'].map((s) => toNumber(s))).toEqual([
    12, 5, -1.5, 0.5, 1000, 2, 16, 15, 5,
  ]);
  expect(['', 'abc', '1,000', '12px', 'inf'].map((s) => toNumber(s))).toEqual(['', 'abc', '1,000', '12px', 'inf']);
  expect([toNumber('inf', true), toNumber('Infinity', true), toNumber(null, true)]).toEqual([
    Infinity,
    Infinity,
    Infinity,
  ]);
  expect(toNumber(null)).toBe(null);
  expect([toText(5), toText(Infinity), toText('x')]).toEqual(['5', Infinity, 'x']);
});

test('the server settings and the command lines read booleans and numbers alike', () => {
  const base = { MODELS_DIR: 'm' };
  for (const [word, value] of [
    ['on', true],
    ['off', false],
    ['Yes', true],
    ['0', false],
  ] as const) {
    expect(loadConfig({ ...base, ORT_ENABLE_CPU_MEM_ARENA: word }).ORT_ENABLE_CPU_MEM_ARENA).toBe(value);
    expect(parseTrainOptions({ dataroot: 'd', no_flip: word }).no_flip).toBe(value);
    expect(field.boolean().parse(word)).toBe(value);
  }
  expect(loadConfig({ ...base, PORT: ' 0x1F90 ' }).PORT).toBe(8080);
  expect(parseTrainOptions({ dataroot: 'd', batch_size: '0x2' }).batch_size).toBe(2);
  expect(field.intRange(1, 10).parse(' 1e1 ')).toBe(10);
  expect(z.array(z.number()).safeParse(field.intList(1).parse('1, 4,16')).data).toEqual([1, 4, 16]);
  expect(() => loadConfig({ ...base, ORT_ENABLE_MEM_PATTERN: 'maybe' })).toThrow(/ORT_ENABLE_MEM_PATTERN/);
  expect(() => parseTrainOptions({ dataroot: 'd', no_flip: 'maybe' })).toThrow(/--no_flip: expected true or false/);
});

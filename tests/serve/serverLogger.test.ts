/** serve/serverLogger.ts: human-readable lines in a terminal, JSON otherwise, LOG_FORMAT deciding when set. */
import { createServerLogger, resolveLogFormat } from '../../serve/serverLogger';

test('auto is pretty exactly on a terminal; json and pretty are taken as given', () => {
  expect(resolveLogFormat('auto', true)).toBe('pretty');
  expect(resolveLogFormat('auto', false)).toBe('json');
  expect(resolveLogFormat('json', true)).toBe('json');
  expect(resolveLogFormat('pretty', false)).toBe('pretty');
});

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return { out: { isTTY, write: (c: string) => chunks.push(c) > 0 }, text: () => chunks.join('') };
}

test('a terminal gets one readable, coloured line per message: time, level, message, fields', () => {
  const c = capture(true);
  createServerLogger({ level: 'info', format: 'auto' }, c.out).info({ model: 'm' }, 'listening on http://x');
  const text = c.text();
  expect(() => JSON.parse(text)).toThrow();
  expect(text).toContain('\u001b['); // ANSI colours
  const plain = text
    .split('\u001b[')
    .map((part, i) => (i === 0 ? part : part.replace(/^[0-9;]*m/, '')))
    .join('');
  expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening on http:\/\/x\n {4}model: "m"\n$/);
});

test('not a terminal: one JSON object per line; LOG_FORMAT=pretty there writes readable lines without colours', () => {
  const json = capture(false);
  createServerLogger({ level: 'info', format: 'auto' }, json.out).warn('careful');
  expect(JSON.parse(json.text())).toMatchObject({ level: 40, msg: 'careful' });

  const pretty = capture(false);
  createServerLogger({ level: 'info', format: 'pretty' }, pretty.out).warn('careful');
  expect(pretty.text()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: careful\n$/);

  const forcedJson = capture(true);
  createServerLogger({ level: 'info', format: 'json' }, forcedJson.out).info('hello');
  expect(JSON.parse(forcedJson.text())).toMatchObject({ level: 30, msg: 'hello' });
});

test('the level holds in both formats', () => {
  for (const format of ['json', 'pretty'] as const) {
    const c = capture(false);
    const log = createServerLogger({ level: 'warn', format }, c.out);
    log.info('hidden');
    log.debug('hidden');
    expect(c.text()).toBe('');
  }
});

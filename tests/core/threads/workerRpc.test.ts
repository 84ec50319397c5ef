import { Worker } from 'node:worker_threads';
import { WorkerRpc } from '../../../core/threads/workerRpc';

type Msg = { id: number; value?: number; error?: string } | { note: string };

/**
 * A worker that answers {id, x} with x*2 after x ms (so replies come back out of order), an error
 * for negative x, a note before each answer, throws on x = 'crash' and exits with code 3 on 'exit'.
 */
function echoWorker(): Worker {
  const code = `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', ({ id, x }) => {
      if (x === 'crash') throw new Error('boom');
      if (x === 'exit') process.exit(3);
      if (x === 'hang') return;
      parentPort.postMessage({ note: 'working on ' + id });
      setTimeout(() => parentPort.postMessage(x < 0 ? { id, error: 'negative' } : { id, value: x * 2 }), x < 0 ? 0 : x);
    });`;
  return new Worker(code, { eval: true });
}

function open(notes: string[] = [], deaths: Error[] = []) {
  return new WorkerRpc<Msg>(echoWorker(), {
    what: 'echo worker',
    reply: (m) =>
      'note' in m ? null : m.error ? { id: m.id, error: new Error(`echo: ${m.error}`) } : { id: m.id, value: m.value },
    onOther: (m) => 'note' in m && notes.push(m.note),
    onDeath: (e) => deaths.push(e),
  });
}

const ask = (rpc: WorkerRpc<Msg>, x: number | string) => rpc.request<number>((id) => rpc.worker.postMessage({ id, x }));

test('replies settle their own request (out of order), errors reject it, other messages go to onOther', async () => {
  const notes: string[] = [];
  const rpc = open(notes);
  try {
    const slow = ask(rpc, 60);
    const fast = ask(rpc, 1);
    const bad = ask(rpc, -1);
    expect(rpc.busy).toBe(3);
    await expect(bad).rejects.toThrow('echo: negative');
    expect(await fast).toBe(2);
    expect(await slow).toBe(120);
    expect(rpc.busy).toBe(0);
    expect(notes.sort()).toEqual(['working on 1', 'working on 2', 'working on 3']);
  } finally {
    await rpc.worker.terminate();
  }
});

test('a crash rejects every pending request with one clear error, and later ones at once', async () => {
  const deaths: Error[] = [];
  const rpc = open([], deaths);
  const waiting = ask(rpc, 'hang');
  const crashing = ask(rpc, 'crash');
  await expect(waiting).rejects.toThrow('echo worker crashed: boom');
  await expect(crashing).rejects.toThrow('echo worker crashed: boom');
  expect(rpc.alive).toBe(false);
  await expect(ask(rpc, 1)).rejects.toThrow('echo worker crashed: boom');
  expect(deaths.map((e) => e.message)).toEqual(['echo worker crashed: boom']);
});

test('an exit rejects the pending requests with its code; end() keeps the first reason', async () => {
  const rpc = open();
  const waiting = ask(rpc, 'hang');
  void ask(rpc, 'exit').catch(() => undefined);
  await expect(waiting).rejects.toThrow('echo worker exited (code 3)');
  rpc.end(new Error('closed'));
  expect(rpc.failure?.message).toBe('echo worker exited (code 3)');

  const other = open();
  const pending = ask(other, 'hang');
  other.end(new Error('echo worker closed'));
  await expect(pending).rejects.toThrow('echo worker closed');
  await other.worker.terminate();
  expect(other.failure?.message).toBe('echo worker closed');
});

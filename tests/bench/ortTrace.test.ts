/**
 * bench/ortTrace.ts: the onnxruntime profile summary of bench/ortProfile.ts, on a synthetic trace
 * (exact sums) and on a profile onnxruntime itself writes for a small graph named the way the
 * training-step graphs name their nodes.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSession, float32Tensor } from '../../core/onnx/ortRuntime';
import {
  categorize,
  formatSummary,
  modelRuns,
  summarizeLastRun,
  summarizeRun,
  takeProfile,
  type TraceEvent,
} from '../../bench/ortTrace';
import { GraphBuilder } from '../../train/onnx/graphBuilder';

const node = (name: string, op: string, ts: number, dur: number): TraceEvent => ({
  cat: 'Node',
  name: `${name}_kernel_time`,
  ts,
  dur,
  args: { op_name: op },
});

test('categorize: scopes decide the gradient kind, the operator whether it is a product', () => {
  expect(categorize('/G_A(real_A)/ResnetBlock/model.10.conv_block.1/Conv', 'Conv')).toBe('forward: conv/gemm');
  expect(categorize('/G_A(real_A)/ResnetBlock/ReflectionPadNd/Slice_3', 'Slice')).toBe('forward: other');
  expect(categorize('/D_B(fake_A)/model.11/dx/Conv', 'Conv')).toBe('input gradient (/dx): conv/gemm');
  expect(categorize('/D_B(fake_A)/model.11/dx/Slice_2', 'Slice')).toBe('input gradient (/dx): other');
  expect(categorize('/G_B(real_A)/model.1/dx_pad/ConvTranspose', 'ConvTranspose')).toBe('forward: conv/gemm');
  expect(categorize('/G_B(real_A)/model.1/dW/Gemm_4', 'Gemm')).toBe('weight gradient (/dW, /db): conv/gemm');
  expect(categorize('/G_B(real_A)/model.23/db/ReduceSum', 'ReduceSum')).toBe('weight gradient (/dW, /db): other');
  expect(categorize('/adam/G_A.model.1.weight/Mul_2', 'Mul')).toBe('Adam (adam/, new/ outputs)');
  expect(categorize('/new_v/D_B.model.0.weight/Identity', 'Identity')).toBe('Adam (adam/, new/ outputs)');
  expect(categorize('/fake_B/Identity', 'Identity')).toBe('forward: other');
});

test('summarizeLastRun: kernels of the last model_run only, summed by category and operator', () => {
  const events: TraceEvent[] = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 5000 },
    node('/G_A/model.1/Conv', 'Conv', 100, 4000), // an earlier run: left out
    { cat: 'Session', name: 'model_run', ts: 10_000, dur: 10_000 },
    { cat: 'Node', name: '/G_A/model.1/Conv_fence_before', ts: 10_100, dur: 0 },
    node('/G_A/model.1/Conv', 'Conv', 10_100, 3000),
    node('/G_A/model.1/dx/ConvTranspose', 'ConvTranspose', 13_200, 2000),
    node('/G_A/model.1/dx/Slice', 'Slice', 15_300, 500),
    node('/G_A/model.1/dW/Gemm', 'Gemm', 15_900, 1500),
    node('/G_A/model.1/dW/Pad', 'Pad', 17_500, 250),
    node('/G_A/model.1/dW/Pad_1', 'Pad', 17_800, 250),
    node('/adam/G_A.model.1.weight/Mul', 'Mul', 18_100, 400),
    node('/new/G_A.model.1.weight/Identity', 'Identity', 18_600, 100),
    node('/G_A/model.2/Relu', 'Relu', 18_800, 1000),
  ];
  const s = summarizeLastRun(events);
  expect(s.run_ms).toBe(10);
  expect(s.kernel_ms).toBeCloseTo(9, 9);
  const table = Object.fromEntries(s.categories.map((c) => [c.category, c.ms]));
  expect(table).toEqual({
    'forward: conv/gemm': 3,
    'input gradient (/dx): conv/gemm': 2,
    'weight gradient (/dW, /db): conv/gemm': 1.5,
    'forward: other': 1,
    'Adam (adam/, new/ outputs)': 0.5,
    'input gradient (/dx): other': 0.5,
    'weight gradient (/dW, /db): other': 0.5,
  });
  // Costliest first, and operators within a category too.
  expect(s.categories[0].category).toBe('forward: conv/gemm');
  const adam = s.categories.find((c) => c.category.startsWith('Adam'))!;
  expect(adam.ops).toEqual([
    { op: 'Mul', ms: 0.4, nodes: 1 },
    { op: 'Identity', ms: 0.1, nodes: 1 },
  ]);
  expect(s.categories.find((c) => c.category === 'weight gradient (/dW, /db): other')!.ops).toEqual([
    { op: 'Pad', ms: 0.5, nodes: 2 },
  ]);

  const text = formatSummary('G step', s, 12, 1);
  expect(text).toMatch(/^G step\n/);
  expect(text).toMatch(/forward: conv\/gemm\s+3\.0 ms\s+33\.3 %/);
  expect(text).toMatch(/Pad \(2\)\s+0\.5 ms\s+5\.6 %/);
  expect(text).toMatch(/1 more op types\s+0\.1 ms/); // Adam's Identity beneath its top-1 Mul
  expect(text).toContain('kernel time is 90.0 % of model_run and 75.0 % of the wall time');
});

test('summarizeLastRun: a trace without a run is an error', () => {
  expect(() => summarizeLastRun([node('/x/Conv', 'Conv', 0, 1)])).toThrow(/no model_run/);
});

test('modelRuns and summarizeRun: runs oldest first, each summed over its own kernels only', () => {
  const events: TraceEvent[] = [
    { cat: 'Session', name: 'model_run', ts: 10_000, dur: 4000 },
    node('/G_A/model.1/Conv', 'Conv', 10_100, 3000),
    { cat: 'Session', name: 'model_run', ts: 0, dur: 5000 }, // written out of order
    node('/G_A/model.1/Conv', 'Conv', 100, 2000),
    node('/G_A/model.1/dW/Gemm', 'Gemm', 2200, 1000),
    node('/G_A/model.1/dW/Gemm', 'Gemm', 6000, 700), // between runs: in neither
  ];
  const runs = modelRuns(events);
  expect(runs.map((r) => r.ts)).toEqual([0, 10_000]);
  const first = summarizeRun(events, runs[0]);
  expect(first.kernel_ms).toBe(3);
  expect(Object.fromEntries(first.categories.map((c) => [c.category, c.ms]))).toEqual({
    'forward: conv/gemm': 2,
    'weight gradient (/dW, /db): conv/gemm': 1,
  });
  expect(summarizeRun(events, runs[1]).kernel_ms).toBe(3);
  expect(summarizeLastRun(events).run_ms).toBe(4);
});

test("takeProfile reads and deletes onnxruntime's own profile of a session", async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [2, 8]);
  const w = b.input('w', [8, 4]);
  const dx = b.binary('Mul', x, x, 'net/dx');
  const y = b.op('MatMul', [dx, w], [2, 4], 'net/dW');
  b.output(b.binary('Add', y, b.scalar(1), 'adam/net.w'), 'y');
  const dir = mkdtempSync(path.join(tmpdir(), 'ort-trace-test-'));
  const prefix = path.join(dir, 'step');
  const session = await createSession(b.build('trace test'), {
    graphOptimizationLevel: 'disabled',
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  try {
    const feeds = {
      x: float32Tensor(new Float32Array(16).fill(1), [2, 8]),
      w: float32Tensor(new Float32Array(32).fill(1), [8, 4]),
    };
    for (let i = 0; i < 2; i++) await session.run(feeds);
    const s = summarizeLastRun(takeProfile(session, prefix));
    expect(readdirSync(dir)).toEqual([]);
    const ops = Object.fromEntries(s.categories.map((c) => [c.category, c.ops.map((o) => [o.op, o.nodes])]));
    expect(ops).toEqual({
      'input gradient (/dx): other': [['Mul', 1]],
      'weight gradient (/dW, /db): conv/gemm': [['MatMul', 1]],
      'Adam (adam/, new/ outputs)': [['Add', 1]], // the graph output `y` itself (no copy)
    });
    expect(s.kernel_ms).toBeGreaterThan(0);
    expect(s.kernel_ms).toBeLessThanOrEqual(s.run_ms);
  } finally {
    await session.release();
    rmSync(dir, { recursive: true, force: true });
  }
});

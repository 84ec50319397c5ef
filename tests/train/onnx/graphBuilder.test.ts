/** GraphBuilder (train/onnx/graphBuilder.ts): the sum of gradients, the one helper with more than one form. */
import { createSession, float32Tensor } from '../../../core/onnx/ortRuntime';
import { onnx } from 'onnx-proto';
import { GraphBuilder } from '../../../train/onnx/graphBuilder';

async function sumOf(n: number) {
  const b = new GraphBuilder();
  const terms = Array.from({ length: n }, (_, i) => b.input(`t${i}`, [3]));
  b.output(b.sum(terms, 's'), 'y');
  const model = b.build('sum');
  const ops = onnx.ModelProto.decode(model).graph!.node!.map((node) => node.opType);
  const session = await createSession(model);
  const feeds = Object.fromEntries(
    terms.map((t, i) => [t, float32Tensor(Float32Array.of(i + 1, 10 * (i + 1), -0.5), [3])]),
  );
  const y = (await session.run(feeds)).y.data as Float32Array;
  await session.release();
  return { ops, y: [...y] };
}

describe('GraphBuilder.sum', () => {
  test.each([
    [1, ['Identity'], [1, 10, -0.5]],
    [2, ['Add'], [3, 30, -1]],
    [3, ['Add', 'Add'], [6, 60, -1.5]],
    [5, ['Sum'], [15, 150, -2.5]],
  ])('%i term(s): %j', async (n, ops, y) => {
    const got = await sumOf(n);
    expect(got.ops).toEqual(ops);
    expect(got.y).toEqual(y);
  });

  test('a sum of no tensors is refused', () => {
    expect(() => new GraphBuilder().sum([], 'grad/G_A.w')).toThrow('graph builder: grad/G_A.w: a sum of no tensors');
  });
});

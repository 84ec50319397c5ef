/**
 * Child-process probe for tests/core/tf/backend.test.ts: starts the wasm backend with `threads` XNNPACK
 * threads, runs a small ResNet generator forward and backward, and prints one JSON line with the thread
 * count tfjs reports and a hash of the output and every parameter gradient; then exits (a live pthreads
 * pool keeps a process alive). `fakeCores` > 0 makes os.cpus() report that many cores, so that tfjs's
 * cap (half the cores) allows 2 threads on a 2-core test machine.
 *
 *   node --import tsx tests/helpers/wasmThreadsProbe.ts <threads> [fakeCores]
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { generatorSpec } from '../../core/arch/spec';
import { Rng } from '../../core/rng';
import { initBackend } from '../../core/tf/backend';
import { initStateDict } from '../../train/model/init';
import { TfNetwork } from '../../train/tfjs/networks';

async function main() {
  const [threads, fakeCores] = process.argv.slice(2).map(Number);
  if (fakeCores > 0) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const os = require('node:os') as { cpus: () => unknown[] };
    const one = os.cpus()[0];
    os.cpus = () => Array.from({ length: fakeCores }, () => one);
  }
  const info = await initBackend('wasm', () => undefined, threads);
  const spec = generatorSpec({
    netG: 'resnet_6blocks',
    inputNc: 3,
    outputNc: 3,
    ngf: 16,
    norm: 'instance',
    useDropout: false,
  });
  const net = new TfNetwork(spec, 'probe', initStateDict(spec, 'normal', 0.02, new Rng(5)));
  const x = tf.tensor4d(
    Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.sin(i)),
    [1, 32, 32, 3],
  );
  const { value, grads } = tf.variableGrads(
    () => tf.mean(tf.square(net.apply(x, { training: true }))) as tf.Scalar,
    net.trainableVariables(),
  );
  let hash = 0;
  for (const t of [value, ...Object.values(grads)]) {
    const bits = new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
    for (const b of bits) hash = (Math.imul(hash, 31) + b) >>> 0;
  }
  process.stdout.write(`${JSON.stringify({ threads: getThreadsCount(), reason: info.reason, hash })}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});

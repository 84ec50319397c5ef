// `postinstall` of this project. package.json's allowScripts keeps onnxruntime-node's own install
// script off (on Linux x64 it downloads the CUDA/TensorRT provider libraries from NuGet, which
// offline installs and CPU machines do not want). `ONNXRUNTIME_NODE_INSTALL=cuda12 npm install`
// asks for that download on purpose: this runs the same script with the variable it reads.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const flag = process.env.ONNXRUNTIME_NODE_INSTALL;
if (flag && flag !== 'skip') {
  const dir = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  console.log(`onnxruntime-node: installing execution providers '${flag}' (ONNXRUNTIME_NODE_INSTALL)`);
  const r = spawnSync(process.execPath, [path.join('script', 'install')], { cwd: dir, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/**
 * Jest runs each test file in its own JavaScript realm, but native addons (onnxruntime-node,
 * sharp) hand back typed arrays of Node's main realm, and `instanceof Float32Array` checks in
 * their JS wrappers then fail across realms. Sharing the main realm's typed-array constructors
 * with the test realm makes both sides agree.
 */
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'ArrayBuffer',
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
];

class MainRealmTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = MainRealmTypedArraysEnvironment;

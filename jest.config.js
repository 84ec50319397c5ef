/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/tests/helpers/jestEnvironment.js',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Numeric tests on wasm/cpu are CPU-bound; two workers match the 2-core CI machine.
  maxWorkers: 2,
  testTimeout: 120000,
};

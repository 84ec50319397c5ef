/** The browser pipeline's public surface: what serve/public/app.js imports from browser/pipeline.js. */
export {
  decodeInBrowser,
  finishInBrowser,
  loadResampler,
  parseManifest,
  parseSizeMode,
  prepareInBrowser,
  processingSizeFor,
} from './browserPipeline';
export { defaultThreads, fetchBytes, openSession } from './ortSession';
export { encodePng } from './pngEncode';

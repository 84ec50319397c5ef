// The demo page. Two ways to translate, chosen by "Run on":
// - this browser: the model folder's ONNX graph runs in the page with onnxruntime-web (WebGPU, else
//   wasm), through the server's own pipeline compiled for the browser (browser/pipeline.js);
//   nothing is uploaded. The default when the model's files are offered and a backend loads.
// - the server: the public HTTP API (GET /v1/models, POST /translate).
// One translation per action: choosing or dropping an image translates it, and so does changing the
// model, direction, size or where it runs. A newer action cancels the one in flight, so what is
// shown always matches the form. The same page, with no API behind it, is the static export
// (npm run build:web): then only "this browser" is offered.
// URL parameters (tests, benchmarks): model=NAME, run=browser|server, backend=webgpu|wasm, threads=N.

const $ = (id) => document.getElementById(id);
const form = $('form');
const modelSel = $('model');
const dirSel = $('dir');
const sizeSel = $('size');
const runSel = $('runon');
const fileInput = $('file');
const fileName = $('file-name');
const drop = $('drop');
const statusEl = $('status');
const runNote = $('runon-note');
const progress = $('progress');
const inputImg = $('input');
const outputImg = $('output');
const outputCaption = $('output-caption');
const download = $('download');
const timingsEl = $('timings');

const params = new URLSearchParams(location.search);
const MAX_BROWSER_BYTES = 256 * 1024 * 1024; // larger graphs are not worth downloading to a page

let serverModels = null; // GET v1/models, or null where there is no API (static export)
let browserIndex = null; // model-files/index.json, or null where the server does not offer files
let models = []; // { name, directions, domains }
let file = null;
let fileLabel = '';
let inputUrl = null;
let outputUrl = null;
let current = null; // { cancelled } of the translation in flight
let pipeline = null; // Promise of the browser/pipeline.js module
const sessions = new Map(); // `${model}/${dir}` → Promise<{ session, manifest, entry, downloadMs }>
const browserProblem = new Map(); // `${model}/${dir}` → why this browser cannot run it

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

function showProgress(value, max) {
  progress.hidden = false;
  if (max > 0) {
    progress.max = max;
    progress.value = value;
  } else progress.removeAttribute('value');
}

async function fetchJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
  return r.json();
}

function mb(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function kib(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
}

function currentModel() {
  return models.find((x) => x.name === modelSel.value);
}

function browserEntry() {
  return browserIndex?.models.find((m) => m.name === modelSel.value) ?? null;
}

function directionLabel(m, d) {
  return m.domains && m.domains.A && m.domains.B
    ? d === 'AtoB'
      ? `${m.domains.A} → ${m.domains.B}`
      : `${m.domains.B} → ${m.domains.A}`
    : d;
}

function fillDirections() {
  const m = currentModel();
  const previous = dirSel.value;
  dirSel.replaceChildren();
  for (const d of m ? m.directions : []) dirSel.append(new Option(directionLabel(m, d), d));
  if ([...dirSel.options].some((o) => o.value === previous)) dirSel.value = previous;
}

function loadPipeline() {
  pipeline ??= import(new URL('browser/pipeline.js', location.href).href).then(async (p) => {
    await p.loadResampler(new URL('browser/resample.wasm', location.href).href).catch(() => false);
    return p;
  });
  return pipeline;
}

/** Downloads the model graph (with progress) and opens it on the first backend that loads. */
function openBrowserSession(modelName, dir) {
  const key = `${modelName}/${dir}`;
  if (!sessions.has(key)) {
    const opened = (async () => {
      const entry = browserIndex?.models.find((m) => m.name === modelName);
      const graph = entry?.directions[dir];
      if (!graph) throw new Error('the server does not offer this model’s files for the browser');
      if (graph.bytes > MAX_BROWSER_BYTES)
        throw new Error(
          `the ${dir} graph is ${mb(graph.bytes)}, more than this page downloads (${mb(MAX_BROWSER_BYTES)})`,
        );
      const p = await loadPipeline();
      const manifest = p.parseManifest(await fetchJson(entry.manifest), entry.manifest);
      const t0 = performance.now();
      setStatus(`Downloading the model (${mb(graph.bytes)})…`);
      const bytes = await p.fetchBytes(graph.url, (got, total) => {
        showProgress(got, total || graph.bytes);
        setStatus(`Downloading the model: ${mb(got)} of ${mb(total || graph.bytes)}…`);
      });
      const downloadMs = performance.now() - t0;
      setStatus('Starting onnxruntime-web…');
      showProgress(0, 0);
      const backends = params.get('backend') ? [params.get('backend')] : ['webgpu', 'wasm'];
      const threads = params.get('threads') ? Number(params.get('threads')) : undefined;
      const t1 = performance.now();
      const session = await p.openSession(bytes, {
        ortBase: new URL('ort/', location.href).href,
        backends,
        threads,
        inputName: manifest.io.input,
        outputName: manifest.io.output,
      });
      progress.hidden = true;
      return { session, manifest, entry, graph, downloadMs, startMs: performance.now() - t1 };
    })();
    sessions.set(key, opened);
    opened.catch(() => sessions.delete(key));
  }
  return sessions.get(key);
}

/**
 * Where to run: the browser when the model's graph loads here, else the server, saying why. A
 * user's explicit choice of the server is kept.
 */
async function decideRunOn() {
  const m = modelSel.value;
  const dir = dirSel.value;
  if (!m || !dir) return;
  const key = `${m}/${dir}`;
  const forced = params.get('run');
  if (forced === 'server' && serverModels) {
    runSel.value = 'server';
    runNote.textContent = 'Running on the server (chosen in the URL).';
    return;
  }
  const stale = () => modelSel.value !== m || dirSel.value !== dir; // the form changed while this one loaded
  try {
    const { session } = await openBrowserSession(m, dir);
    if (stale()) return;
    browserProblem.delete(key);
    runSel.querySelector('option[value=browser]').disabled = false;
    if (runSel.dataset.userChoice !== 'server') runSel.value = 'browser';
    const skipped = session.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
    runNote.textContent =
      `This browser runs ${m} ${dir} on ${backendName(session)}; nothing is uploaded.` +
      (skipped ? ` (Not used: ${skipped}.)` : '');
  } catch (e) {
    if (stale()) return;
    progress.hidden = true;
    browserProblem.set(key, e.message);
    runSel.querySelector('option[value=browser]').disabled = true;
    if (serverModels) {
      runSel.value = 'server';
      runNote.textContent = `Running on the server: this browser cannot run the model (${e.message}).`;
    } else {
      runNote.textContent = `This browser cannot run the model (${e.message}), and there is no server to run it.`;
      setStatus(runNote.textContent, true);
    }
  }
}

function backendName(session) {
  return session.backend === 'webgpu'
    ? 'WebGPU'
    : `wasm (SIMD, ${session.threads} thread${session.threads === 1 ? '' : 's'})`;
}

async function loadModels() {
  const [api, index, examples] = await Promise.allSettled([
    fetchJson('v1/models'),
    fetchJson('model-files/index.json'),
    fetchJson('examples/index.json'),
  ]);
  serverModels = api.status === 'fulfilled' ? api.value : null;
  browserIndex = index.status === 'fulfilled' ? index.value : null;
  if (!serverModels && !browserIndex) {
    setStatus('Could not list models: neither the API nor the model files answered.', true);
    return;
  }
  if (!serverModels) {
    // The static export: no API behind the page.
    runSel.querySelector('option[value=server]').disabled = true;
    $('apikey-label').hidden = true;
    $('api-links').hidden = true;
  }
  if (serverModels) {
    models = serverModels.models;
    modelSel.replaceChildren(...models.map((m) => new Option(`${m.name} (${m.executionProvider})`, m.name)));
  } else {
    models = [];
    for (const e of browserIndex.models) {
      const man = await fetchJson(e.manifest);
      models.push({ name: e.name, directions: Object.keys(e.directions), domains: man.domains });
    }
    modelSel.replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  }
  const def = params.get('model') ?? (serverModels ?? browserIndex).defaultModel;
  if (def && models.some((m) => m.name === def)) modelSel.value = def;
  fillDirections();
  if (examples.status === 'fulfilled') showExamples(examples.value);
  setStatus(models.length ? 'Choose an image, or try an example.' : 'No models are loaded.', models.length === 0);
  showCard();
  await decideRunOn();
  if (file) translate();
}

/** AtoB when the example's folder names domain A (e.g. `twemoji` in `Twemoji (Twitter)`), BtoA for domain B. */
function exampleDirection(group) {
  const d = currentModel()?.domains;
  const g = group.toLowerCase();
  if (d?.A?.toLowerCase().includes(g)) return 'AtoB';
  if (d?.B?.toLowerCase().includes(g)) return 'BtoA';
  return null;
}

function showExamples(list) {
  const row = $('examples');
  row.replaceChildren();
  for (const ex of list) {
    const b = document.createElement('button');
    b.type = 'button';
    b.title = `${ex.group}/${ex.name}`;
    const img = document.createElement('img');
    img.src = ex.url;
    img.alt = '';
    const label = document.createElement('span');
    label.textContent = `${ex.group}/${ex.name}`;
    b.append(img, label);
    b.addEventListener('click', async () => {
      // An example from a domain's folder (examples/black, examples/color) runs in the direction out of that domain.
      const dir = exampleDirection(ex.group);
      if (dir && dir !== dirSel.value && [...dirSel.options].some((o) => o.value === dir)) {
        dirSel.value = dir;
        await decideRunOn();
      }
      const r = await fetch(ex.url);
      const blob = await r.blob();
      chooseFile(new File([blob], ex.url.split('/').pop(), { type: blob.type }));
    });
    row.append(b);
  }
  $('examples-row').hidden = list.length === 0;
}

/** The model's card: what it translates, its data and licence, its held-out scores (model.json + README/ATTRIBUTION). */
async function showCard() {
  const entry = browserEntry();
  const card = $('card');
  let man = null;
  try {
    man = entry ? await fetchJson(entry.manifest) : null;
  } catch {
    man = null;
  }
  const info = man ?? serverModels?.models.find((m) => m.name === modelSel.value);
  if (!info) {
    card.hidden = true;
    return;
  }
  $('card-title').textContent = `Model: ${info.name}`;
  $('card-description').textContent = info.description ?? '';
  const facts = [];
  if (info.domains) facts.push(['translates', `${info.domains.A} ↔ ${info.domains.B}`]);
  if (man?.architecture) {
    const a = man.architecture;
    facts.push(['generator', [a.netG, a.ngf && `ngf ${a.ngf}`, a.norm && `${a.norm} norm`].filter(Boolean).join(', ')]);
  }
  if (man?.preferredSize) facts.push(['native size', `${man.preferredSize}×${man.preferredSize}`]);
  if (info.epoch !== undefined) facts.push(['epochs trained', String(info.epoch)]);
  if (entry) {
    const sizes = Object.entries(entry.directions).map(([d, g]) => `${d} ${mb(g.bytes)}`);
    facts.push(['download for the browser', sizes.join(', ')]);
  }
  $('card-facts').replaceChildren(
    ...facts.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  const table = $('card-metrics');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  let method = '';
  for (const [dataset, ev] of Object.entries(info.metrics ?? {})) {
    method = `Scores on ${dataset}${ev.size ? ` at ${ev.size.width}×${ev.size.height}` : ''}: ${ev.method ?? ''}`;
    for (const [d, s] of Object.entries(ev.directions ?? {})) {
      const tr = document.createElement('tr');
      const cells = [
        d,
        s.images,
        s.psnr?.toFixed(2),
        s.ssim?.toFixed(3),
        s.identity ? `${s.identity.psnr?.toFixed(2)} / ${s.identity.ssim?.toFixed(3)}` : '',
      ];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c ?? '';
        tr.append(td);
      }
      body.append(tr);
    }
  }
  table.hidden = body.children.length === 0;
  $('card-method').textContent = method;
  const texts = [];
  for (const url of entry?.card ?? []) {
    const r = await fetch(url).catch(() => null);
    if (r?.ok) texts.push(await r.text());
  }
  $('card-text').textContent = texts.join('\n\n');
  $('card-files').hidden = texts.length === 0;
  card.hidden = false;
}

/** Forgets the last output: no stale image, caption or download next to a new input or an error. */
function clearOutput() {
  if (outputUrl) URL.revokeObjectURL(outputUrl);
  outputUrl = null;
  outputImg.hidden = true;
  outputImg.removeAttribute('src');
  outputCaption.textContent = 'Output';
  download.hidden = true;
  download.removeAttribute('href');
  $('compare-section').hidden = true;
  $('compare-after').hidden = true;
  $('compare-after').removeAttribute('src');
  timingsEl.textContent = '';
}

function chooseFile(f) {
  if (!f) return;
  file = f;
  fileLabel = f.name;
  fileName.textContent = `${f.name} (${kib(f.size)})`;
  if (inputUrl) URL.revokeObjectURL(inputUrl);
  inputUrl = URL.createObjectURL(f);
  inputImg.hidden = true; // shown once it decodes: a file the browser cannot show leaves no broken icon
  inputImg.src = inputUrl;
  $('compare-before').hidden = true;
  $('compare-before').removeAttribute('src');
  clearOutput();
  translate();
}

/** `photo.jpg` translated AtoB as PNG → `photo_AtoB.png`. */
function downloadName(name, dir, contentType) {
  const base = name.replace(/\.[^.]*$/, '') || 'image';
  const ext = { 'image/jpeg': 'jpg', 'image/webp': 'webp' }[contentType] || 'png';
  return `${base}_${dir}.${ext}`;
}

/** `415 Unsupported Media Type: not a decodable image (...)` from a problem+json answer. */
async function problemText(r) {
  try {
    const p = await r.json();
    return `${r.status} ${p.title || r.statusText}${p.detail ? `: ${p.detail}` : ''}`;
  } catch {
    return `${r.status} ${r.statusText}`;
  }
}

/** Pixelated scaling for images much smaller than where they are shown. */
function markSmall(img) {
  img.classList.toggle('small', img.naturalWidth > 0 && img.naturalWidth < 400);
}

function showOutput(blob, dir, caption) {
  clearOutput();
  outputUrl = URL.createObjectURL(blob);
  outputImg.src = outputUrl;
  outputImg.hidden = false;
  $('compare-after').src = outputUrl;
  $('compare-section').hidden = false;
  download.href = outputUrl;
  download.download = downloadName(fileLabel, dir, blob.type);
  download.textContent = `Download ${download.download}`;
  download.hidden = false;
  outputCaption.textContent = caption;
}

async function translateOnServer(job, dir, why = '') {
  const controller = new AbortController();
  job.abort = () => controller.abort();
  const q = new URLSearchParams({ model: modelSel.value, dir, size: sizeSel.value });
  const body = new FormData();
  body.append('image', file);
  const headers = {};
  if ($('apikey').value) headers.Authorization = `Bearer ${$('apikey').value}`;
  setStatus(`Translating ${fileLabel} on the server…${why}`);
  const t0 = performance.now();
  const r = await fetch(`translate?${q}`, { method: 'POST', body, headers, signal: controller.signal });
  if (!r.ok) throw new Error(await problemText(r));
  const blob = await r.blob();
  if (job.cancelled) return;
  const ms = Math.round(performance.now() - t0);
  showOutput(
    blob,
    dir,
    `Output · ${r.headers.get('X-Model')} ${r.headers.get('X-Direction')} at ${r.headers.get('X-Processing-Size')}` +
      ` · inference ${r.headers.get('X-Inference-Time-Ms')} ms (batch of ${r.headers.get('X-Batch-Size')}) · total ${ms} ms`,
  );
  timingsEl.textContent = `Ran on the server (${r.headers.get('X-Execution-Provider') ?? 'onnxruntime-node'}).${why}`;
  setStatus('Done.');
}

async function translateInBrowser(job, dir) {
  const modelName = modelSel.value;
  const opened = await openBrowserSession(modelName, dir);
  if (job.cancelled) return;
  const { session, manifest, graph } = opened;
  const p = await loadPipeline();
  setStatus(`Translating ${fileLabel} in this browser…`);
  showProgress(0, 0);
  const t0 = performance.now();
  const decoded = await p.decodeInBrowser(file);
  const size = p.parseSizeMode(sizeSel.value);
  const proc = p.processingSizeFor(decoded.image, manifest, size);
  const tilePixels = browserIndex?.tilePixels ?? Infinity;
  if (graph.tiling && proc.width * proc.height > tilePixels) {
    // Tiled execution (the server's tile plan and graphs) runs only on the server.
    const why = ` (${proc.width}×${proc.height} needs tiled execution, which runs on the server)`;
    if (!serverModels) throw new Error(`this image${why.slice(1, -1)}; choose a smaller size`);
    progress.hidden = true;
    return translateOnServer(job, dir, why);
  }
  const prepared = p.prepareInBrowser(decoded, manifest, dir, size);
  const t1 = performance.now();
  const out = await session.run(prepared.input.data, prepared.input.dims);
  const t2 = performance.now();
  if (job.cancelled) return;
  const image = p.finishInBrowser(out.data, out.dims, manifest, prepared);
  const blob = await p.encodePng(image);
  const t3 = performance.now();
  if (job.cancelled) return;
  progress.hidden = true;
  const { width, height } = prepared.processing;
  showOutput(
    blob,
    dir,
    `Output · ${modelName} ${dir} at ${width}x${height} · generator ${(t2 - t1).toFixed(1)} ms · total ${Math.round(t3 - t0)} ms`,
  );
  timingsEl.textContent =
    `Ran in this browser on ${backendName(session)}: decode + resize ${(t1 - t0).toFixed(1)} ms, ` +
    `generator ${(t2 - t1).toFixed(1)} ms, resize back + PNG ${(t3 - t2).toFixed(1)} ms; ` +
    `model download ${Math.round(opened.downloadMs)} ms and start ${Math.round(opened.startMs)} ms (once).`;
  setStatus('Done.');
}

async function translate() {
  if (!file || !modelSel.value) return;
  if (current) {
    current.cancelled = true;
    current.abort?.();
  }
  const job = { cancelled: false, abort: null };
  current = job;
  const dir = dirSel.value;
  setStatus(`Translating ${fileLabel}…`);
  try {
    if (runSel.value === 'browser' && !runSel.querySelector('option[value=browser]').disabled)
      await translateInBrowser(job, dir);
    else await translateOnServer(job, dir);
  } catch (e) {
    if (job.cancelled) return; // a newer action took over
    progress.hidden = true;
    clearOutput();
    setStatus(e.message, true);
  } finally {
    if (current === job) current = null;
  }
}

inputImg.addEventListener('load', () => {
  inputImg.hidden = false;
  markSmall(inputImg);
  $('compare-before').src = inputImg.src; // only an input the browser can show joins the comparison
});
$('compare-before').addEventListener('load', () => {
  $('compare-before').hidden = false;
  markSmall($('compare-before'));
});
inputImg.addEventListener('error', () => (inputImg.hidden = true));
outputImg.addEventListener('load', () => markSmall(outputImg));
$('compare-after').addEventListener('load', () => {
  $('compare-after').hidden = false;
  markSmall($('compare-after'));
});
$('compare-slider').addEventListener('input', (e) => {
  $('compare-after').style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
});
modelSel.addEventListener('change', async () => {
  fillDirections();
  showCard();
  await decideRunOn();
  translate();
});
dirSel.addEventListener('change', async () => {
  await decideRunOn();
  translate();
});
sizeSel.addEventListener('change', translate);
runSel.addEventListener('change', () => {
  runSel.dataset.userChoice = runSel.value;
  runNote.textContent =
    runSel.value === 'server' ? 'Running on the server (your choice).' : 'Running in this browser (your choice).';
  translate();
});
form.addEventListener('submit', (e) => {
  e.preventDefault(); // Enter in the API key field: try again with the key
  translate();
});
fileInput.addEventListener('change', () => chooseFile(fileInput.files[0]));

// The drop zone: click, Enter or Space opens the file chooser; dropping an image chooses it.
drop.addEventListener('click', (e) => {
  if (e.target !== fileInput) fileInput.click(); // the input's own click bubbles up here too
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    fileInput.click();
  }
});
for (const t of ['dragenter', 'dragover']) {
  drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
}
for (const t of ['dragleave', 'drop']) drop.addEventListener(t, () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  chooseFile(e.dataTransfer.files[0]);
});

loadModels();

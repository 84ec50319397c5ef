// The demo page: uses only the public HTTP API (GET /v1/models, POST /translate).
// One request per action: choosing or dropping an image translates it, and so does changing the
// model, direction or size (or pressing Enter in the API key field) while an image is chosen.
// A newer action cancels the request still in flight, so what is shown always matches the form.
'use strict';

const $ = (id) => document.getElementById(id);
const form = $('form');
const modelSel = $('model');
const dirSel = $('dir');
const sizeSel = $('size');
const fileInput = $('file');
const fileName = $('file-name');
const drop = $('drop');
const statusEl = $('status');
const inputImg = $('input');
const outputImg = $('output');
const outputCaption = $('output-caption');
const download = $('download');

let models = [];
let file = null;
let inputUrl = null;
let outputUrl = null;
let inFlight = null;

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

function fillDirections() {
  const m = models.find((x) => x.name === modelSel.value);
  const previous = dirSel.value;
  dirSel.replaceChildren();
  for (const d of m ? m.directions : []) {
    const label =
      m.domains && m.domains.A && m.domains.B
        ? d === 'AtoB'
          ? `${m.domains.A} → ${m.domains.B}`
          : `${m.domains.B} → ${m.domains.A}`
        : d;
    dirSel.append(new Option(label, d));
  }
  if ([...dirSel.options].some((o) => o.value === previous)) dirSel.value = previous;
}

async function loadModels() {
  try {
    const r = await fetch('v1/models');
    const body = await r.json();
    models = body.models;
    modelSel.replaceChildren(...models.map((m) => new Option(`${m.name} (${m.executionProvider})`, m.name)));
    if (body.defaultModel) modelSel.value = body.defaultModel;
    fillDirections();
    setStatus(models.length ? 'Choose an image.' : 'The server has no models loaded.', models.length === 0);
  } catch (e) {
    setStatus(`Could not list models: ${e.message}`, true);
  }
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
}

function kib(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
}

function chooseFile(f) {
  if (!f) return;
  file = f;
  fileName.textContent = `${f.name} (${kib(f.size)})`;
  if (inputUrl) URL.revokeObjectURL(inputUrl);
  inputUrl = URL.createObjectURL(f);
  inputImg.hidden = true; // shown once it decodes: a file the browser cannot show leaves no broken icon
  inputImg.src = inputUrl;
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

async function translate() {
  if (!file || !modelSel.value) return;
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  const dir = dirSel.value;
  const params = new URLSearchParams({ model: modelSel.value, dir, size: sizeSel.value });
  const body = new FormData();
  body.append('image', file);
  const headers = {};
  if ($('apikey').value) headers.Authorization = `Bearer ${$('apikey').value}`;
  setStatus(`Translating ${file.name}…`);
  const t0 = performance.now();
  try {
    const r = await fetch(`translate?${params}`, { method: 'POST', body, headers, signal: controller.signal });
    if (!r.ok) throw new Error(await problemText(r));
    const blob = await r.blob();
    if (controller.signal.aborted) return;
    clearOutput();
    outputUrl = URL.createObjectURL(blob);
    outputImg.src = outputUrl;
    outputImg.hidden = false;
    download.href = outputUrl;
    download.download = downloadName(file.name, dir, blob.type);
    download.textContent = `Download ${download.download}`;
    download.hidden = false;
    const ms = Math.round(performance.now() - t0);
    outputCaption.textContent =
      `Output · ${r.headers.get('X-Model')} ${r.headers.get('X-Direction')} at ${r.headers.get('X-Processing-Size')}` +
      ` · inference ${r.headers.get('X-Inference-Time-Ms')} ms (batch of ${r.headers.get('X-Batch-Size')}) · total ${ms} ms`;
    setStatus('Done.');
  } catch (e) {
    if (controller.signal.aborted) return; // a newer action took over
    clearOutput();
    setStatus(e.message, true);
  } finally {
    if (inFlight === controller) inFlight = null;
  }
}

inputImg.addEventListener('load', () => (inputImg.hidden = false));
inputImg.addEventListener('error', () => (inputImg.hidden = true));
modelSel.addEventListener('change', () => {
  fillDirections();
  translate();
});
dirSel.addEventListener('change', translate);
sizeSel.addEventListener('change', translate);
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

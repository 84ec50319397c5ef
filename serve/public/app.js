// The demo page: uses only the public HTTP API (GET /v1/models, POST /translate).
'use strict';

const $ = (id) => document.getElementById(id);
const form = $('form');
const modelSel = $('model');
const dirSel = $('dir');
const sizeSel = $('size');
const fileInput = $('file');
const drop = $('drop');
const go = $('go');
const statusEl = $('status');
const inputImg = $('input');
const outputImg = $('output');
const outputCaption = $('output-caption');

let models = [];
let file = null;
let outputUrl = null;

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', isError);
}

function fillDirections() {
  const m = models.find((x) => x.name === modelSel.value);
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
  updateButton();
}

function updateButton() {
  go.disabled = !file || !modelSel.value;
}

function chooseFile(f) {
  if (!f) return;
  file = f;
  if (inputImg.src) URL.revokeObjectURL(inputImg.src);
  inputImg.src = URL.createObjectURL(f);
  inputImg.hidden = false;
  updateButton();
  if (!go.disabled) form.requestSubmit();
}

async function translate(ev) {
  ev.preventDefault();
  if (!file) return;
  const params = new URLSearchParams({ model: modelSel.value, dir: dirSel.value, size: sizeSel.value });
  const body = new FormData();
  body.append('image', file);
  const headers = {};
  if ($('apikey').value) headers.Authorization = `Bearer ${$('apikey').value}`;
  go.disabled = true;
  setStatus('Translating…');
  const t0 = performance.now();
  try {
    const r = await fetch(`translate?${params}`, { method: 'POST', body, headers });
    if (!r.ok) {
      let detail = r.statusText;
      try {
        const p = await r.json();
        detail = `${p.title}: ${p.detail}`;
      } catch {
        // not problem+json; keep the status text
      }
      throw new Error(`${r.status} ${detail}`);
    }
    const blob = await r.blob();
    if (outputUrl) URL.revokeObjectURL(outputUrl);
    outputUrl = URL.createObjectURL(blob);
    outputImg.src = outputUrl;
    outputImg.hidden = false;
    const ms = Math.round(performance.now() - t0);
    outputCaption.textContent =
      `Output · ${r.headers.get('X-Model')} ${r.headers.get('X-Direction')} at ${r.headers.get('X-Processing-Size')}` +
      ` · inference ${r.headers.get('X-Inference-Time-Ms')} ms (batch of ${r.headers.get('X-Batch-Size')}) · total ${ms} ms`;
    setStatus('Done.');
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    updateButton();
  }
}

modelSel.addEventListener('change', fillDirections);
fileInput.addEventListener('change', () => chooseFile(fileInput.files[0]));
form.addEventListener('submit', translate);
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

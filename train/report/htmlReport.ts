/**
 * A self-contained HTML training report (loss curves as inline SVG, the latest sample grids),
 * rewritten atomically as training goes so it can be opened from disk at any time.
 */
import { writeFileAtomic } from '../../core/io/atomicWrite';

export interface LossRecord {
  epoch: number;
  iter: number;
  /** Total iterations so far. */
  step: number;
  losses: Record<string, number>;
}

export interface ReportInput {
  name: string;
  options: Record<string, unknown>;
  records: LossRecord[];
  /** Sample images relative to the report file, newest first. */
  samples: { file: string; label: string }[];
  status: string;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Loss curves, one polyline per loss name, x = step. */
export function lossSvg(records: LossRecord[], width = 800, height = 300): string {
  if (records.length === 0) return '<p>No losses logged yet.</p>';
  const names = Object.keys(records[0].losses);
  const xs = records.map((r) => r.step);
  const all = records.flatMap((r) => names.map((n) => r.losses[n])).filter(Number.isFinite);
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const [yMin, yMax] = [Math.min(0, ...all), Math.max(...all, 1e-6)];
  const pad = 40;
  const sx = (x: number) => pad + ((x - xMin) / Math.max(1, xMax - xMin)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - yMin) / (yMax - yMin)) * (height - 2 * pad);
  const lines = names.map((n, i) => {
    const pts = records
      .filter((r) => Number.isFinite(r.losses[n]))
      .map((r) => `${sx(r.step).toFixed(1)},${sy(r.losses[n]).toFixed(1)}`)
      .join(' ');
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${pts}"><title>${escapeHtml(n)}</title></polyline>`;
  });
  const legend = names.map(
    (n, i) =>
      `<text x="${pad + i * 90}" y="16" fill="${COLORS[i % COLORS.length]}" font-size="12">${escapeHtml(n)}</text>`,
  );
  const axes = [
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#999"/>`,
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#999"/>`,
    `<text x="${pad}" y="${height - pad + 16}" font-size="11">${xMin}</text>`,
    `<text x="${width - pad}" y="${height - pad + 16}" font-size="11" text-anchor="end">${xMax} iterations</text>`,
    `<text x="${pad - 4}" y="${pad}" font-size="11" text-anchor="end">${yMax.toPrecision(3)}</text>`,
    `<text x="${pad - 4}" y="${height - pad}" font-size="11" text-anchor="end">${yMin.toPrecision(3)}</text>`,
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="loss curves">${axes.join('')}${lines.join('')}${legend.join('')}</svg>`;
}

export function renderReport(r: ReportInput): string {
  const samples = r.samples
    .map(
      (s) =>
        `<figure><img src="${escapeHtml(s.file)}" alt="${escapeHtml(s.label)}"><figcaption>${escapeHtml(s.label)}</figcaption></figure>`,
    )
    .join('\n');
  const last = r.records.at(-1);
  const lastLine = last
    ? Object.entries(last.losses)
        .map(([k, v]) => `${escapeHtml(k)}: ${v.toFixed(4)}`)
        .join(' · ')
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(r.name)} — cyclegan-ts training report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}figure{margin:1em 0}img{image-rendering:pixelated;max-width:100%}
pre{background:#f6f6f6;padding:1em;overflow:auto}.muted{color:#666}</style></head>
<body><h1>${escapeHtml(r.name)}</h1>
<p class="muted">${escapeHtml(r.status)}</p>
<h2>Losses</h2>${lossSvg(r.records)}
<p>${lastLine}</p>
<h2>Samples</h2><p class="muted">Columns: real_A | fake_B | rec_A | real_B | fake_A | rec_B</p>
${samples || '<p>No samples yet.</p>'}
<h2>Options</h2><pre>${escapeHtml(JSON.stringify(r.options, null, 2))}</pre>
</body></html>
`;
}

export async function writeReport(file: string, r: ReportInput): Promise<void> {
  await writeFileAtomic(file, renderReport(r));
}

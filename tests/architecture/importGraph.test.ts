/**
 * The layering of the house as data, checked on every source file's imports (static, type-only,
 * dynamic `import()` and `require`), outside node_modules and tests/. See shared design notes:
 * serve/ and translate/ sit on inference/, which sits on core/; training engines are peers on an
 * engine-neutral core; nothing imports upward and nothing imports in a circle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const SOURCE_DIRS = ['core', 'inference', 'serve', 'translate', 'train', 'export', 'bench', 'tools'];
const SOURCE_EXT = /\.(ts|mts|cts|mjs|cjs|js)$/;
const TFJS = /^@tensorflow\//;
const ORT = 'onnxruntime-node';
/** At most this many source files import onnxruntime-node (the one runtime module and its peers). */
const MAX_ORT_IMPORTERS = 3;

/**
 * Folders (by path prefix) and what none of their files may import directly: other folders by
 * prefix, or packages by pattern. Upper layers are absent from lower layers' lists.
 */
const FORBIDDEN: { from: string; notFolders: string[]; notPackages?: RegExp[]; why: string }[] = [
  {
    from: 'core/',
    notFolders: ['inference/', 'serve/', 'translate/', 'train/', 'export/', 'bench/', 'tools/'],
    why: 'core is the bottom layer',
  },
  {
    from: 'inference/',
    notFolders: ['serve/', 'translate/', 'train/', 'export/', 'bench/', 'tools/'],
    why: 'inference sits on core only',
  },
  {
    from: 'serve/',
    notFolders: ['translate/', 'train/', 'export/', 'bench/', 'tools/'],
    why: 'serve sits on inference',
  },
  {
    from: 'translate/',
    notFolders: ['serve/', 'train/', 'export/', 'bench/', 'tools/'],
    why: 'translate sits on inference',
  },
  {
    from: 'export/',
    notFolders: ['serve/', 'translate/', 'bench/', 'tools/'],
    why: 'export reads checkpoints through train and writes model folders',
  },
  { from: 'train/', notFolders: ['serve/', 'translate/', 'export/', 'bench/', 'tools/'], why: 'train is below export' },
  {
    from: 'train/model/',
    notFolders: ['train/tfjs/', 'train/onnx/', 'train/parallel/', 'core/tf/', 'core/onnx/'],
    notPackages: [TFJS, /^onnxruntime-/],
    why: 'the training core is engine-neutral',
  },
  { from: 'train/tfjs/', notFolders: ['train/onnx/'], why: 'the engines are peers' },
  { from: 'train/onnx/', notFolders: ['train/tfjs/', 'core/tf/'], notPackages: [TFJS], why: 'the engines are peers' },
  {
    from: 'train/parallel/',
    notFolders: ['train/tfjs/', 'train/onnx/'],
    notPackages: [TFJS, /^onnxruntime-/],
    why: 'the two-worker split is engine-neutral (workers are started by file name)',
  },
];

/** Files that must not load tfjs even indirectly (anything they reach). */
const NO_TFJS_CLOSURE = ['train/onnx/', 'train/model/', 'train/parallel/'];
/** Commands that must start without loading tfjs (they import it dynamically where needed). */
const NO_STATIC_TFJS = ['export/cli.ts', 'export/importCli.ts'];
/** Folders whose modules give no name a second address. */
const NO_REEXPORTS = ['core/', 'train/', 'export/', 'inference/', 'serve/', 'translate/', 'web/', 'bench/', 'tools/'];

interface Graph {
  /** Source file (relative) → resolved local files it imports, statically or dynamically. */
  local: Map<string, Set<string>>;
  /** Source file → local files it imports at load time (import/export declarations only). */
  staticLocal: Map<string, Set<string>>;
  /** Source file → bare package specifiers it imports (any way). */
  packages: Map<string, Set<string>>;
  /** Source file → bare package specifiers it imports at load time. */
  staticPackages: Map<string, Set<string>>;
  /** Source file → names it re-exports from another module (`export { x } from`, or an imported name exported again). */
  reexports: Map<string, string[]>;
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(rel);
      } else if (SOURCE_EXT.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out;
}

function resolveLocal(from: string, spec: string): string | undefined {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = [base, `${base}.ts`, `${base}.mts`, `${base}.mjs`, `${base}.js`, `${base}/index.ts`];
  return candidates.find((c) => fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile());
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every module specifier of `file`, whether it loads at import time, and its re-exports. */
function scan(file: string): { specs: { spec: string; isStatic: boolean }[]; reexports: string[] } {
  const src = ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const specs: { spec: string; isStatic: boolean }[] = [];
  const reexports: string[] = [];
  const imported = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      specs.push({ spec: node.moduleSpecifier.text, isStatic: true });
      const c = node.importClause;
      if (c?.name) imported.add(c.name.text);
      if (c?.namedBindings && ts.isNamedImports(c.namedBindings))
        for (const e of c.namedBindings.elements) imported.add(e.name.text);
    } else if (ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        specs.push({ spec: node.moduleSpecifier.text, isStatic: true });
        reexports.push(node.getText(src));
      } else if (node.exportClause && ts.isNamedExports(node.exportClause))
        for (const e of node.exportClause.elements)
          if (imported.has((e.propertyName ?? e.name).text)) reexports.push(`export { ${e.getText(src)} }`);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments.length === 1 &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      specs.push({ spec: node.arguments[0].text, isStatic: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) specs.push({ spec: lit.text, isStatic: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return { specs, reexports };
}

function buildGraph(): Graph {
  const g: Graph = {
    local: new Map(),
    staticLocal: new Map(),
    packages: new Map(),
    staticPackages: new Map(),
    reexports: new Map(),
  };
  for (const file of SOURCE_DIRS.flatMap(listSources)) {
    const [l, sl, p, sp] = [new Set<string>(), new Set<string>(), new Set<string>(), new Set<string>()];
    const { specs, reexports } = scan(file);
    for (const { spec, isStatic } of specs) {
      if (spec.startsWith('.')) {
        const target = resolveLocal(file, spec);
        if (target === undefined) throw new Error(`${file}: cannot resolve import '${spec}'`);
        if (target.endsWith('.json')) continue;
        l.add(target);
        if (isStatic) sl.add(target);
      } else if (!spec.startsWith('node:')) {
        p.add(packageName(spec));
        if (isStatic) sp.add(packageName(spec));
      }
    }
    g.local.set(file, l);
    g.staticLocal.set(file, sl);
    g.packages.set(file, p);
    g.staticPackages.set(file, sp);
    g.reexports.set(file, reexports);
  }
  return g;
}

/** The first chain of imports from `start` (through `edges`) to a file importing a package matching `pkg`. */
function chainToPackage(
  start: string,
  edges: Map<string, Set<string>>,
  packages: Map<string, Set<string>>,
  pkg: RegExp,
): string | undefined {
  const parent = new Map<string, string>();
  const seen = new Set<string>([start]);
  const queue = [start];
  while (queue.length > 0) {
    const f = queue.shift()!;
    const hit = [...(packages.get(f) ?? [])].find((p) => pkg.test(p));
    if (hit) {
      const chain = [f];
      while (parent.has(chain[0])) chain.unshift(parent.get(chain[0])!);
      return `${chain.join(' -> ')} -> ${hit}`;
    }
    for (const t of edges.get(f) ?? [])
      if (!seen.has(t)) {
        seen.add(t);
        parent.set(t, f);
        queue.push(t);
      }
  }
  return undefined;
}

const graph = buildGraph();

test('the graph covers the source folders', () => {
  expect(graph.local.size).toBeGreaterThan(100);
  for (const dir of ['core/', 'inference/', 'train/model/', 'train/tfjs/', 'train/onnx/', 'export/'])
    expect([...graph.local.keys()].some((f) => f.startsWith(dir))).toBe(true);
});

test('no folder imports a layer above it or a peer engine', () => {
  const broken: string[] = [];
  for (const rule of FORBIDDEN) {
    for (const [file, targets] of graph.local) {
      if (!file.startsWith(rule.from)) continue;
      for (const t of targets)
        if (rule.notFolders.some((f) => t.startsWith(f))) broken.push(`${file} -> ${t} (${rule.why})`);
      for (const pkg of graph.packages.get(file)!)
        if (rule.notPackages?.some((re) => re.test(pkg))) broken.push(`${file} -> ${pkg} (${rule.why})`);
    }
  }
  expect(broken).toEqual([]);
});

test('the onnxruntime engine, the training core and the worker split never load tfjs, even indirectly', () => {
  const broken = [...graph.local.keys()]
    .filter((f) => NO_TFJS_CLOSURE.some((d) => f.startsWith(d)))
    .map((f) => chainToPackage(f, graph.local, graph.packages, TFJS))
    .filter((c) => c !== undefined);
  expect(broken).toEqual([]);
});

test('export and import load tfjs only on demand (a dynamic import, to verify against the tfjs reference)', () => {
  const broken = NO_STATIC_TFJS.map((f) => chainToPackage(f, graph.staticLocal, graph.staticPackages, TFJS)).filter(
    (c) => c !== undefined,
  );
  expect(broken).toEqual([]);
  // ... and they do reach it that way, so the check above is not vacuous.
  for (const f of NO_STATIC_TFJS) expect(chainToPackage(f, graph.local, graph.packages, TFJS)).toBeDefined();
});

test('no module re-exports a name from elsewhere', () => {
  const found = [...graph.reexports]
    .filter(([f, r]) => NO_REEXPORTS.some((d) => f.startsWith(d)) && r.length > 0)
    .map(([f, r]) => `${f}: ${r.join('; ')}`);
  expect(found).toEqual([]);
});

test('no import circles', () => {
  // Tarjan's strongly connected components; any component of two or more files is a circle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.local.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) circles.push(scc.sort());
    }
  };
  for (const v of graph.local.keys()) if (!idx.has(v)) visit(v);
  expect(circles).toEqual([]);
});

test(`at most ${MAX_ORT_IMPORTERS} source files import ${ORT}`, () => {
  const importers = [...graph.packages].filter(([, p]) => p.has(ORT)).map(([f]) => f);
  expect(importers.length).toBeLessThanOrEqual(MAX_ORT_IMPORTERS);
});

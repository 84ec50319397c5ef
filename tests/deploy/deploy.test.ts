/**
 * deploy/: the Kubernetes manifests and the Dockerfile agree with the code they run (no cluster or
 * Docker daemon needed): probe paths and ports, settings the server knows, CLI flags the batch
 * command accepts, shard count = completions, exit status policy, and an image that contains every
 * source folder and package the server and the CLI load.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import pkg from '../../package.json';
import { CONFIG_KEYS } from '../../serve/config';
import { parseCommandLine } from '../../core/cli/command';
import { EXIT_SOME_FAILED, translateCommand } from '../../translate/cli';
import { SHARD_COUNT_ENV, SHARD_INDEX_ENV } from '../../translate/shard';
import { trainCommand } from '../../train/commands';
import { EXIT } from '../../core/cli/errors';

const ROOT = path.join(__dirname, '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');

// Loosely typed views of the manifests: the test checks the fields it reads.
interface Env {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Env[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  containers: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string }[];
}

type Labels = Record<string, string>;
interface Deployment {
  kind: string;
  spec: { selector: { matchLabels: Labels }; template: { metadata: { labels: Labels }; spec: PodSpec } };
}
interface Service {
  kind: string;
  spec: { selector: Labels; ports: { targetPort: string | number }[] };
}
interface Job {
  kind: string;
  spec: {
    completionMode?: string;
    completions?: number;
    backoffLimitPerIndex?: number;
    backoffLimit?: number;
    podFailurePolicy: { rules: { action: string; onExitCodes?: unknown; onPodConditions?: { type: string }[] }[] };
    template: { spec: PodSpec };
  };
}

function docs(file: string): unknown[] {
  return YAML.parseAllDocuments(readFileSync(path.join(DEPLOY, file), 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as unknown;
  });
}

const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

function mountsResolve(spec: PodSpec): void {
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
  for (const c of spec.containers) for (const m of c.volumeMounts ?? []) expect(volumes).toContain(m.name);
}

describe('deploy/server.yaml', () => {
  const [deployment, service] = docs('server.yaml') as [Deployment, Service];
  const pod: PodSpec = deployment.spec.template.spec;
  const c = pod.containers[0];
  const env = envOf(c);

  it('is a Deployment and a Service that selects its pods', () => {
    expect([deployment.kind, service.kind]).toEqual(['Deployment', 'Service']);
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    for (const [k, v] of Object.entries(service.spec.selector)) expect(labels[k]).toBe(v);
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  it('listens on 0.0.0.0 at the container port, probed on /readyz and /healthz', () => {
    expect(env.HOST).toBe('0.0.0.0');
    const http = c.ports!.find((p) => p.name === 'http')!;
    expect(Number(env.PORT)).toBe(http.containerPort);
    expect(c.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('sets only settings the server knows, with models mounted where MODELS_DIR points', () => {
    for (const name of Object.keys(env)) expect(CONFIG_KEYS).toContain(name);
    expect(c.volumeMounts!.map((m) => m.mountPath)).toContain(env.MODELS_DIR);
    mountsResolve(pod);
  });

  it('gives SIGTERM time for the graceful shutdown', () => {
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(Number(env.SHUTDOWN_TIMEOUT_MS));
  });
});

describe('deploy/translate-job.yaml', () => {
  const [job] = docs('translate-job.yaml') as [Job];
  const pod: PodSpec = job.spec.template.spec;
  const c = pod.containers[0];
  const env = envOf(c);

  it('is an Indexed Job with one shard per completion index', () => {
    expect(job.kind).toBe('Job');
    expect(job.spec.completionMode).toBe('Indexed');
    expect(Number(env[SHARD_COUNT_ENV])).toBe(job.spec.completions);
    // Kubernetes sets the index itself; setting it here would give every pod the same shard.
    expect(env[SHARD_INDEX_ENV]).toBeUndefined();
    expect(pod.restartPolicy).toBe('Never');
  });

  it('runs the batch CLI with flags it accepts, reading and writing mounted folders', () => {
    expect(c.command).toEqual(['node', '--import', 'tsx', 'translate/cli.ts']);
    const o = parseCommandLine(translateCommand, c.args!, env).options;
    const mounts = new Map(c.volumeMounts!.map((m) => [m.mountPath, m]));
    expect(mounts.get(o.input)?.readOnly).toBe(true);
    expect(mounts.get(o.output)?.readOnly).toBeFalsy();
    expect(mounts.has(env.MODELS_DIR!)).toBe(true);
    for (const name of Object.keys(env)) expect([...CONFIG_KEYS, SHARD_COUNT_ENV]).toContain(name);
    mountsResolve(pod);
  });

  it('does not retry an index whose only failures are bad input files (exit status 3)', () => {
    const rule = job.spec.podFailurePolicy.rules.find((r) => r.action === 'FailIndex');
    expect(rule?.onExitCodes).toEqual({ containerName: c.name, operator: 'In', values: [EXIT_SOME_FAILED] });
    expect(job.spec.backoffLimitPerIndex).toBeGreaterThanOrEqual(1);
  });
});

describe('deploy/train-job.yaml', () => {
  const [job] = docs('train-job.yaml') as [Job];
  const pod: PodSpec = job.spec.template.spec;
  const c = pod.containers[0];
  const env = envOf(c);
  // The container's command is `sh -c SCRIPT $0 ARGS...`: the script adds --continue_train when
  // RESUME_FROM exists, then execs the trainer with the args.
  const [shell, dashC, script, argv0] = c.command!;

  it('runs the trainer with flags it accepts, reading the dataset and writing checkpoints to volumes', () => {
    expect([shell, dashC, argv0]).toEqual(['sh', '-c', 'train']);
    expect(script).toMatch(/exec node --import tsx train\/cli\.ts "\$@"$/);
    const o = parseCommandLine(trainCommand, c.args!, {}).options;
    const mounts = new Map(c.volumeMounts!.map((m) => [m.mountPath, m]));
    expect(mounts.get(path.posix.dirname(o.dataroot))?.readOnly).toBe(true);
    expect(mounts.get(o.checkpoints_dir)?.readOnly).toBeFalsy();
    expect(o.engine).toBe('onnxruntime');
    expect(String(o.threads)).toBe(c.resources?.requests?.cpu);
    mountsResolve(pod);
  });

  it("resumes a retried pod from the run it saved: RESUME_FROM is that run's latest checkpoint", () => {
    const o = parseCommandLine(trainCommand, c.args!, {}).options;
    expect(env.RESUME_FROM).toBe(path.posix.join(o.checkpoints_dir, o.name, 'latest.ckpt'));
    expect(script).toMatch(/if \[ -f "\$RESUME_FROM" \]; then set -- "\$@" --continue_train; fi;/);
    // The resumed command line is one the trainer accepts.
    expect(parseCommandLine(trainCommand, [...c.args!, '--continue_train'], {}).options.continue_train).toBe(true);
  });

  it('gives SIGTERM time to save, retries evictions, and fails at once on a bad command line', () => {
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    const rules = job.spec.podFailurePolicy.rules;
    expect(rules.find((r) => r.action === 'Ignore')?.onPodConditions?.[0].type).toBe('DisruptionTarget');
    expect(rules.find((r) => r.action === 'FailJob')?.onExitCodes).toEqual({
      containerName: c.name,
      operator: 'In',
      values: [EXIT.usage],
    });
    expect(job.spec.backoffLimit).toBeGreaterThanOrEqual(1);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');
  const ignore = readFileSync(path.join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  /** Relative imports reachable from `entries`, plus the bare package names they use. */
  function closure(entries: string[]): { files: Set<string>; packages: Set<string> } {
    const files = new Set<string>();
    const packages = new Set<string>();
    const todo = [...entries];
    while (todo.length > 0) {
      const file = todo.pop()!;
      if (files.has(file)) continue;
      files.add(file);
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(?:from|require\()\s*'([^']+)'/g)) {
        const spec = m[1];
        if (spec.startsWith('.')) {
          const target = path.normalize(path.join(path.dirname(file), spec));
          todo.push(target.endsWith('.json') ? target : `${target}.ts`);
        } else if (!spec.startsWith('node:')) {
          packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
        }
      }
    }
    return { files, packages };
  }

  // The inference worker is loaded by file name (inference/inferenceThread.ts), not imported.
  const { files, packages } = closure(['serve/main.ts', 'translate/cli.ts', 'inference/inferenceWorker.ts']);

  it('builds on node:20-slim with npm ci, serving on 0.0.0.0 by default', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
    expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/);
    // One process, so SIGTERM reaches the server's graceful shutdown directly.
    expect(dockerfile).toMatch(/^CMD \["node", "--import", "tsx", "serve\/main\.ts"\]$/m);
  });

  it('copies every source file the server and the CLI load, and the context lets them in', () => {
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)].flatMap((m) =>
      m[1].split(/\s+/),
    );
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1)));
    for (const file of files) {
      const top = file.split(path.sep)[0];
      const inImage = copied.includes(top) || copied.includes(file);
      expect([file, inImage]).toEqual([file, true]);
      expect([file, allowed.has(top) || allowed.has(file)]).toEqual([file, true]);
    }
    expect(ignore[0]).toBe('*');
    // Read at run time by the server: the API description and the web page.
    expect(copied).toContain('openapi.yaml');
    expect(allowed).toContain('openapi.yaml');
  });

  it('has a trainer target holding every file the trainer and the exporter load', () => {
    const stages = dockerfile.split(/^(?=FROM )/m);
    const stageOf = (name: string) => stages.find((st) => new RegExp(`^FROM \\S+ AS ${name}$`, 'm').test(st))!;
    const trainer = stageOf('trainer');
    expect(trainer).toMatch(/^FROM runtime AS trainer$/m);
    expect(trainer).toMatch(/^ENTRYPOINT \["node", "--import", "tsx", "train\/cli\.ts"\]$/m);
    const copiedIn = (stage: string) =>
      [...stage.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    const copied = [...copiedIn(stageOf('runtime')), ...copiedIn(trainer)];
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1)));
    // The side workers are started by file name (train/parallel/parallelTrainingModel.ts).
    const trainerFiles = closure([
      'train/cli.ts',
      'export/cli.ts',
      'train/onnx/ortSideWorker.ts',
      'train/tfjs/tfjsSideWorker.ts',
    ]);
    for (const file of trainerFiles.files) {
      const top = file.split(path.sep)[0];
      expect([file, copied.includes(top) && (allowed.has(top) || allowed.has(file))]).toEqual([file, true]);
    }
    const deps = Object.keys(pkg.dependencies);
    for (const p of trainerFiles.packages) expect([p, deps.includes(p)]).toEqual([p, true]);
  });

  it('needs no devDependency at run time (the image installs with --omit=dev)', () => {
    const deps = Object.keys(pkg.dependencies);
    for (const p of packages) expect([p, deps.includes(p)]).toEqual([p, true]);
    // The worker bootstrap loads TypeScript through tsx.
    expect(deps).toContain('tsx');
  });
});

/**
 * Every manifest in deploy/ and deploy/kserve/ is validated against a schema (no cluster is
 * reachable here): Kubernetes kinds against the published Kubernetes JSON schemas (the
 * kubernetes-models package, Kubernetes 1.27), KServe's ServingRuntime and InferenceService
 * against schemas written from KServe's documented fields (tests/helpers/kserveSchemas.ts) with
 * their embedded containers and resources against the Kubernetes ones. Then the KServe objects and
 * the HorizontalPodAutoscaler are checked against the server they run: settings, port, probe
 * path, the metric the HPA scales on, and the names that tie the objects together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Container } from 'kubernetes-models/v1/Container';
import { ResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import { Service } from 'kubernetes-models/v1/Service';
import YAML from 'yaml';
import { loadConfig } from '../../serve/config';
import { createMetrics } from '../../serve/metrics';
import { OPENAPI_FILE } from '../../serve/app';
import { INFERENCE_SERVICE_SCHEMA, SERVING_RUNTIME_SCHEMA } from '../helpers/kserveSchemas';

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');
const FILES = [
  ...readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')),
  ...readdirSync(path.join(DEPLOY, 'kserve')).map((f) => `kserve/${f}`),
];

// Loosely typed views of the manifests: the schemas check them, the tests read the fields they need.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> } & Record<
  string,
  unknown
>;
const docs: { file: string; doc: Doc }[] = FILES.flatMap((file) =>
  YAML.parseAllDocuments(readFileSync(path.join(DEPLOY, file), 'utf8')).map((d) => ({ file, doc: d.toJS() as Doc })),
);
const one = (kind: string) => {
  const found = docs.filter((d) => d.doc.kind === kind);
  expect(found).toHaveLength(1);
  return found[0].doc as Doc & { spec: Loose };
};

const ajv = new Ajv({ allErrors: true, strict: true });
const validateServingRuntime = ajv.compile(SERVING_RUNTIME_SCHEMA);
const validateInferenceService = ajv.compile(INFERENCE_SERVICE_SCHEMA);

/** Throws with every problem of a manifest; returns the kinds of the schemas it was checked against. */
function validate(doc: Doc): string[] {
  const k8s: Record<string, new (d: never) => { validate(): void }> = {
    'apps/v1 Deployment': Deployment,
    'v1 Service': Service,
    'batch/v1 Job': Job,
    'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  };
  const key = `${doc.apiVersion} ${doc.kind}`;
  if (k8s[key]) {
    new k8s[key](doc as never).validate();
    return [`kubernetes ${key}`];
  }
  const check = {
    'serving.kserve.io/v1alpha1 ServingRuntime': validateServingRuntime,
    'serving.kserve.io/v1beta1 InferenceService': validateInferenceService,
  }[key];
  if (!check) throw new Error(`no schema for ${key}`);
  if (!check(doc)) throw new Error(ajv.errorsText(check.errors));
  const spec = doc.spec as Loose;
  for (const c of spec.containers ?? []) new Container(c).validate();
  const resources = spec.predictor?.model?.resources;
  if (resources) new ResourceRequirements(resources).validate();
  return [
    `kserve ${key} (hand-written)`,
    ...(spec.containers ? ['kubernetes v1 Container'] : []),
    ...(resources ? ['kubernetes v1 ResourceRequirements'] : []),
  ];
}

describe('schema validation', () => {
  it.each(docs.map((d) => [`${d.file}: ${d.doc.kind} ${d.doc.metadata.name}`, d.doc]))('%s', (_name, doc) => {
    expect(validate(doc as Doc).length).toBeGreaterThan(0);
  });

  it('each kind found in deploy/ is there, and the validation catches mistakes', () => {
    expect(docs.map((d) => d.doc.kind).sort()).toEqual(
      ['Deployment', 'HorizontalPodAutoscaler', 'InferenceService', 'Job', 'Job', 'Service', 'ServingRuntime'].sort(),
    );
    const broken = (kind: string, mutate: (d: Loose) => void) => {
      const d = structuredClone(one(kind));
      mutate(d);
      return () => validate(d);
    };
    expect(broken('Deployment', (d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 'http'))).toThrow(
      /must be integer/,
    );
    expect(broken('HorizontalPodAutoscaler', (d) => delete d.spec.scaleTargetRef.kind)).toThrow(/kind/);
    expect(broken('ServingRuntime', (d) => (d.spec.protocolVersions = ['v3']))).toThrow(/allowed values/);
    expect(broken('ServingRuntime', (d) => (d.spec.protocolVersion = ['v2']))).toThrow(/additional properties/);
    expect(broken('ServingRuntime', (d) => (d.spec.containers[0].ports[0].containerPort = '8080'))).toThrow(
      /must be integer/,
    );
    expect(broken('InferenceService', (d) => (d.spec.predictor.model.storageUri = 'models/'))).toThrow(/pattern/);
    expect(broken('InferenceService', (d) => (d.spec.predictor.minReplica = 1))).toThrow(/additional properties/);
    expect(broken('InferenceService', (d) => (d.spec.predictor.model.resources.requests = 'lots'))).toThrow(
      /must be object/,
    );
  });
});

describe('the manifests agree with the server they run', () => {
  const envOf = (c: { env?: { name: string; value?: string }[] }) =>
    Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));

  it('ServingRuntime: protocol v2, settings the server accepts, its port, the OIP readiness path, /mnt/models', () => {
    const sr = one('ServingRuntime');
    expect(sr.spec.protocolVersions).toEqual(['v2']);
    const [c] = sr.spec.containers;
    const config = loadConfig(envOf(c));
    expect(config.MODELS_DIR).toBe('/mnt/models');
    expect(config.HOST).toBe('0.0.0.0');
    expect(c.ports[0].containerPort).toBe(config.PORT);
    expect(c.readinessProbe.httpGet.port).toBe(config.PORT);
    expect(Number(sr.spec.annotations['prometheus.kserve.io/port'])).toBe(config.PORT);
    const paths = YAML.parse(readFileSync(OPENAPI_FILE, 'utf8')).paths;
    expect(paths[c.readinessProbe.httpGet.path].get).toBeDefined();
    expect(paths[sr.spec.annotations['prometheus.kserve.io/path']].get).toBeDefined();
  });

  it('InferenceService: the runtime, its model format and protocol, storage on the models claim', () => {
    const sr = one('ServingRuntime');
    const isvc = one('InferenceService');
    const m = isvc.spec.predictor.model;
    expect(m.runtime).toBe(sr.metadata.name);
    expect(sr.spec.supportedModelFormats.map((f: { name: string }) => f.name)).toContain(m.modelFormat.name);
    expect(sr.spec.protocolVersions).toContain(m.protocolVersion);
    const claim = one('Deployment').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'models')
      .persistentVolumeClaim.claimName;
    expect(m.storageUri).toMatch(new RegExp(`^pvc://${claim}/`));
  });

  it('HPA: scales server.yaml Deployment on a gauge the server exports, scraped from its pods', () => {
    const hpa = one('HorizontalPodAutoscaler');
    const dep = one('Deployment');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: dep.apiVersion, kind: dep.kind, name: dep.metadata.name });
    const [metric] = hpa.spec.metrics;
    expect(metric.type).toBe('Pods');
    const exported = createMetrics(4).registry.getSingleMetric(metric.pods.metric.name);
    expect(exported?.constructor.name).toBe('Gauge');
    const annotations = dep.spec.template.metadata.annotations;
    const [c] = dep.spec.template.spec.containers;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(c.ports[0].containerPort);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });
});

/**
 * JSON schemas for the two KServe custom resources deploy/kserve/ uses, written by hand from the
 * fields KServe documents for its CRDs (ServingRuntime serving.kserve.io/v1alpha1, InferenceService
 * serving.kserve.io/v1beta1): no npm or Debian package ships KServe's published CRD schemas, and no
 * cluster is reachable here to validate against the installed ones. KServe's own levels refuse
 * unknown fields (a misspelt field fails); the Kubernetes objects embedded in them (containers,
 * resources) are validated separately against the published Kubernetes schemas.
 */
const objectMeta = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    namespace: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  },
  additionalProperties: false,
};

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
/** A Kubernetes object validated on its own (here only its type). */
const k8sObject = { type: 'object' };

export const SERVING_RUNTIME_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1alpha1' },
    kind: { const: 'ServingRuntime' },
    metadata: objectMeta,
    spec: {
      type: 'object',
      required: ['supportedModelFormats', 'containers'],
      additionalProperties: false,
      properties: {
        supportedModelFormats: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', minLength: 1 },
              version: { type: 'string' },
              autoSelect: { type: 'boolean' },
              priority: { type: 'integer', minimum: 1 },
            },
          },
        },
        protocolVersions: { type: 'array', items: { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] } },
        multiModel: { type: 'boolean' },
        disabled: { type: 'boolean' },
        replicas: { type: 'integer', minimum: 0 },
        grpcEndpoint: { type: 'string' },
        grpcDataEndpoint: { type: 'string' },
        httpDataEndpoint: { type: 'string' },
        storageHelper: { type: 'object', properties: { disabled: { type: 'boolean' } }, additionalProperties: false },
        containers: { type: 'array', minItems: 1, items: k8sObject },
        volumes: { type: 'array', items: k8sObject },
        nodeSelector: stringMap,
        tolerations: { type: 'array', items: k8sObject },
        affinity: k8sObject,
        imagePullSecrets: { type: 'array', items: k8sObject },
        labels: stringMap,
        annotations: stringMap,
      },
    },
  },
};

const modelSpec = {
  type: 'object',
  required: ['modelFormat'],
  additionalProperties: false,
  properties: {
    modelFormat: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: { name: { type: 'string', minLength: 1 }, version: { type: 'string' } },
    },
    runtime: { type: 'string' },
    protocolVersion: { enum: ['v1', 'v2', 'grpc-v2'] },
    storageUri: { type: 'string', pattern: '^(pvc|s3|gs|https?|hdfs|webhdfs|oci|hf)://.+' },
    env: { type: 'array', items: k8sObject },
    args: { type: 'array', items: { type: 'string' } },
    resources: k8sObject,
    volumeMounts: { type: 'array', items: k8sObject },
  },
};

export const INFERENCE_SERVICE_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1beta1' },
    kind: { const: 'InferenceService' },
    metadata: objectMeta,
    spec: {
      type: 'object',
      required: ['predictor'],
      additionalProperties: false,
      properties: {
        predictor: {
          type: 'object',
          additionalProperties: false,
          properties: {
            model: modelSpec,
            minReplicas: { type: 'integer', minimum: 0 },
            maxReplicas: { type: 'integer', minimum: 0 },
            scaleTarget: { type: 'integer', minimum: 1 },
            scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
            containerConcurrency: { type: 'integer', minimum: 0 },
            timeout: { type: 'integer', minimum: 1 },
            canaryTrafficPercent: { type: 'integer', minimum: 0, maximum: 100 },
            serviceAccountName: { type: 'string' },
            nodeSelector: stringMap,
            tolerations: { type: 'array', items: k8sObject },
            volumes: { type: 'array', items: k8sObject },
            labels: stringMap,
            annotations: stringMap,
          },
        },
      },
    },
  },
};

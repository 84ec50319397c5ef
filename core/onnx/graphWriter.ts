/**
 * Writing ONNX graphs: fresh names, nodes, initializers, attributes and value types. Shared by the
 * generator export (export/onnxBuilder.ts) and the training-step graphs (train/onnx/), so both emit
 * the same protobuf the same way.
 */
import { onnx } from 'onnx-proto';
import { numel } from '../arch/stateDict';
import { toFloat16Array } from './float16';

const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

/** IR version that goes with an opset (onnx/docs/Versioning.md): ORT rejects opsets newer than the IR allows. */
export function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export type Attr = number | number[] | string;

export class GraphWriter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly shared = new Map<string, string>();

  constructor(readonly fp16: boolean) {}

  /** A name not used before, derived from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  node(opType: string, inputs: string[], scope: string, attrs: Record<string, Attr> = {}): string {
    const name = this.fresh(`/${scope}/${opType}`);
    const output = this.fresh(`${name}_output_0`);
    this.nodes.push({
      opType,
      name,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /** A float tensor in the graph's compute precision. */
  floatInit(name: string, dims: number[], values: Float32Array): string {
    const raw = this.fp16 ? toFloat16Array(values) : values;
    name = this.fresh(name);
    this.initializers.push({
      name,
      dims,
      dataType: this.fp16 ? DataType.FLOAT16 : DataType.FLOAT,
      rawData: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    });
    return name;
  }

  /** One initializer per distinct constant (instance-norm scale/bias, pad amounts). */
  sharedFloat(name: string, dims: number[], fill: number): string {
    return this.share(name, () => this.floatInit(name, dims, new Float32Array(numel(dims)).fill(fill)));
  }

  sharedInt64(name: string, values: number[]): string {
    return this.share(name, () => {
      const raw = BigInt64Array.from(values.map(BigInt));
      name = this.fresh(name);
      this.initializers.push({
        name,
        dims: [values.length],
        dataType: DataType.INT64,
        rawData: new Uint8Array(raw.buffer),
      });
      return name;
    });
  }

  /** One tensor per `key`, made by `make` the first time (shared constants, derived weights). */
  share(key: string, make: () => string): string {
    let name = this.shared.get(key);
    if (!name) {
      name = make();
      this.shared.set(key, name);
    }
    return name;
  }

  /** Makes `tensor` (the output of the last node) appear under `name`. */
  renameOutput(tensor: string, name: string): void {
    const producer = this.nodes.find((n) => n.output?.[0] === tensor);
    if (!producer || producer !== this.nodes[this.nodes.length - 1]) {
      this.nodes.push({ opType: 'Identity', name: this.fresh('/Identity'), input: [tensor], output: [name] });
    } else {
      producer.output = [name];
    }
  }
}

export function attribute(name: string, v: Attr): onnx.IAttributeProto {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (Number.isInteger(v) && name !== 'alpha' && name !== 'epsilon' && name !== 'momentum')
    return { name, type: AttributeType.INT, i: v };
  return { name, type: AttributeType.FLOAT, f: v };
}

export function tensorType(elemType: number, dims: (number | string)[]): onnx.ITypeProto {
  return {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

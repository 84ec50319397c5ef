/**
 * An ONNX graph under construction with a static shape for every tensor. The training-step graphs
 * are built for one batch shape (a run's crop size never changes), which lets each backward node
 * be chosen for the shapes it will see (output padding, which tensor an im2col copies) and lets
 * onnxruntime plan memory once.
 */
import { onnx } from 'onnx-proto';
import { GraphWriter, irVersionFor, tensorType, type Attr } from '../../core/onnx/graphWriter';

const { DataType } = onnx.TensorProto;

/** Opset of the training graphs: ReduceSum takes axes as an input (13+), ReduceMean still as an attribute (< 18). */
export const TRAIN_OPSET = 17;

export class GraphBuilder {
  private readonly w = new GraphWriter(false);
  private readonly shapes = new Map<string, number[]>();
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];

  /** One tensor per `key` in the whole graph (e.g. a weight's flipped copy, used by every call of its network). */
  memo(key: string, make: () => string): string {
    return this.w.share(key, make);
  }

  shape(t: string): number[] {
    const s = this.shapes.get(t);
    if (!s) throw new Error(`graph builder: no shape for '${t}'`);
    return s;
  }

  /** A float32 graph input named exactly `name`. */
  input(name: string, shape: number[]): string {
    if (this.w.fresh(name) !== name) throw new Error(`graph builder: input name '${name}' is taken`);
    this.shapes.set(name, shape);
    this.inputs.push({ name, type: tensorType(DataType.FLOAT, shape) });
    return name;
  }

  /** Makes `t` a graph output named `name` (resolved in `build`). */
  output(t: string, name: string): void {
    if (this.w.fresh(name) !== name) throw new Error(`graph builder: output name '${name}' is taken`);
    this.pending.push({ t, name });
    this.outputs.push({ name, type: tensorType(DataType.FLOAT, this.shape(t)) });
  }

  private readonly pending: { t: string; name: string }[] = [];

  /**
   * Each output takes over its producer's result, renamed in every node that reads it (an Identity
   * would copy every updated parameter and moment once more); an Identity only where a value is
   * a graph input or feeds two outputs.
   */
  private resolveOutputs(): void {
    const produced = new Set<string>();
    for (const n of this.w.nodes) for (const o of n.output ?? []) produced.add(o);
    const sources = new Map<string, number>();
    for (const { t } of this.pending) sources.set(t, (sources.get(t) ?? 0) + 1);
    const rename = new Map<string, string>();
    for (const { t, name } of this.pending) {
      if (produced.has(t) && sources.get(t) === 1) rename.set(t, name);
      else
        this.w.nodes.push({ opType: 'Identity', name: this.w.fresh(`/${name}/Identity`), input: [t], output: [name] });
    }
    for (const n of this.w.nodes) {
      n.input = (n.input ?? []).map((i) => rename.get(i) ?? i);
      n.output = (n.output ?? []).map((o) => rename.get(o) ?? o);
    }
    this.pending.length = 0;
  }

  op(opType: string, inputs: string[], shape: number[], scope: string, attrs: Record<string, Attr> = {}): string {
    const y = this.w.node(opType, inputs, scope, attrs);
    this.shapes.set(y, shape);
    return y;
  }

  /** A shared int64 vector constant (axes, shapes, slice bounds). */
  ints(values: number[]): string {
    return this.w.sharedInt64(`i64_${values.join('_').replace(/-/g, 'm')}`, values);
  }

  /** A shared float32 scalar constant. */
  scalar(value: number): string {
    const name = this.w.sharedFloat(`f32_${value}`, [], value);
    this.shapes.set(name, []);
    return name;
  }

  /** A float32 constant tensor, one per `key`. */
  floats(key: string, dims: number[], values: Float32Array): string {
    return this.memo(`floats:${key}`, () => {
      const name = this.w.floatInit(key, dims, values);
      this.shapes.set(name, dims);
      return name;
    });
  }

  reshape(x: string, shape: number[], scope: string): string {
    return this.op('Reshape', [x, this.ints(shape)], shape, scope);
  }

  transpose(x: string, perm: number[], scope: string): string {
    const s = this.shape(x);
    return this.op(
      'Transpose',
      [x],
      perm.map((p) => s[p]),
      scope,
      { perm },
    );
  }

  /** Sum over `axes` (kept as size-1 dims when `keep`). */
  reduceSum(x: string, axes: number[], keep: boolean, scope: string): string {
    const s = this.shape(x);
    const shape = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
    return this.op('ReduceSum', [x, this.ints(axes)], shape, scope, { keepdims: keep ? 1 : 0 });
  }

  reduceMean(x: string, axes: number[], scope: string): string {
    const s = this.shape(x);
    return this.op(
      'ReduceMean',
      [x],
      s.map((d, i) => (axes.includes(i) ? 1 : d)),
      scope,
      { axes, keepdims: 1 },
    );
  }

  /** Mean of every element, as a [] scalar. */
  meanAll(x: string, scope: string): string {
    return this.op('ReduceMean', [x], [], scope, { keepdims: 0 });
  }

  /** Elementwise binary op with numpy broadcasting; the result has the larger operand's shape. */
  binary(opType: 'Add' | 'Sub' | 'Mul' | 'Div', a: string, b: string, scope: string): string {
    const sa = this.shape(a);
    const sb = this.shape(b);
    const rank = Math.max(sa.length, sb.length);
    const pad = (s: number[]) => [...new Array(rank - s.length).fill(1), ...s];
    const pa = pad(sa);
    const pb = pad(sb);
    return this.op(
      opType,
      [a, b],
      pa.map((d, i) => Math.max(d, pb[i])),
      scope,
    );
  }

  /**
   * Sum of one or more same-shape tensors, left to right. Up to three as Adds, which onnxruntime
   * runs on every thread (its Sum runs on one and is slower even there); more as one Sum, which
   * reads each term once.
   */
  sum(ts: string[], scope: string): string {
    if (ts.length === 0) throw new Error(`graph builder: ${scope}: a sum of no tensors`);
    if (ts.length > 3) return this.op('Sum', ts, this.shape(ts[0]), scope);
    return ts.slice(1).reduce((acc, t) => this.binary('Add', acc, t, scope), ts[0]);
  }

  /** A boolean tensor as float32 ones and zeros. */
  toFloat(x: string, scope: string): string {
    return this.op('Cast', [x], this.shape(x), scope, { to: DataType.FLOAT });
  }

  unary(opType: string, x: string, scope: string, attrs: Record<string, Attr> = {}): string {
    return this.op(opType, [x], this.shape(x), scope, attrs);
  }

  /** The serialised model. */
  build(name: string): Uint8Array {
    this.resolveOutputs();
    const model: onnx.IModelProto = {
      irVersion: irVersionFor(TRAIN_OPSET),
      opsetImport: [{ domain: '', version: TRAIN_OPSET }],
      producerName: 'cyclegan-ts',
      graph: {
        name,
        node: this.w.nodes,
        initializer: this.w.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

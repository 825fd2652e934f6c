/** A small vocabulary for writing ONNX graphs with onnx-proto: tensors, value infos, nodes. */
import onnxProto from 'onnx-proto';
import type { onnx as types } from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };
type Tensor = types.ITensorProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
export const UINT8 = onnx.TensorProto.DataType.UINT8;

export function floats(name: string, dims: number[], values: Float32Array | number[]): Tensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  // rawData keeps large initializers compact (4 bytes a value, little-endian as ONNX requires).
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/** Signed bytes (an 8-bit quantised weight). */
export function int8s(name: string, dims: number[], values: Int8Array): Tensor {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.INT8,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

export function ints(name: string, dims: number[], values: number[]): Tensor {
  return onnx.TensorProto.create({ name, dims, dataType: INT64, int64Data: values });
}

export function tensorInfo(name: string, shape: (number | string)[], elemType: number = FLOAT): types.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

type Attribute = number | number[] | string | Tensor;

/** The domain of onnxruntime's own operators (contrib ops), e.g. `DynamicQuantizeMatMul`. */
export const MICROSOFT = 'com.microsoft';

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, Attribute> = {},
  domain = '',
): types.INodeProto {
  const A = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attributes).map(([name, value]) => {
    if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
    if (typeof value === 'number')
      return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
    if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
    return { name, type: A.TENSOR, t: value };
  });
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    attribute,
    name: `${opType}_${outputs[0]}`,
    ...(domain ? { domain } : {}),
  });
}

export function model(graph: types.IGraphProto, producer = 'loupe'): Uint8Array {
  const opsetImport = [{ domain: '', version: 17 }];
  if (graph.node?.some((n) => n.domain === MICROSOFT)) opsetImport.push({ domain: MICROSOFT, version: 1 });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, producerName: producer, opsetImport, graph }),
  ).finish();
}

"""OpenVINO IR (an .xml graph and its .bin weights) to ONNX, for the face embedding recipe.

Runs in the conversion Python (requirements-convert.txt: `onnx`, and `openvino` for the check), never
in the appliance. It translates the operations Open Model Zoo's small face networks are made of
(Parameter, Const and Convert, Convolution, GroupConvolution, Add, Multiply, PReLU, Sigmoid, AvgPool,
MaxPool, Result) one by one, with the weights converted from float16 to float32 exactly; any other
operation is refused by name. The same IR always gives the same ONNX bytes. With `--reference`, it
also runs the IR with OpenVINO's own runtime on a fixed input and saves the input and the output, so
that the recipe can check that ONNX Runtime gives what OpenVINO gives.

    python openvino_onnx.py --xml model.xml --onnx model.onnx [--reference reference.npz]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

#: IR element types of constants, as numpy dtypes.
_DTYPES = {"f16": np.float16, "f32": np.float32, "i64": np.int64, "i32": np.int32}
#: The opset and IR version written: pinned, so that one IR gives one ONNX file.
OPSET = 13
IR_VERSION = 8
#: The input the reference run uses: numpy's default_rng(1), uniform in [0, 255) like pixels.
REFERENCE_SEED = 1


class ConversionError(ValueError):
    """The IR cannot be converted; the message says why."""


@dataclass(frozen=True)
class _Layer:
    id: str
    name: str
    type: str
    data: dict[str, str]
    #: Output port ids, in order.
    outputs: tuple[str, ...]
    #: The dimensions of the first input port (what a Result receives).
    input_shape: tuple[int, ...]


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.replace(" ", "").split(",") if v]


def _read(xml_path: Path) -> tuple[dict[str, _Layer], dict[tuple[str, str], tuple[str, str]]]:
    """The layers by id, and for each (layer, input port) the (layer, output port) feeding it."""
    try:
        root = ElementTree.parse(xml_path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise ConversionError(f"{xml_path.name} is not an OpenVINO IR graph: {exc}") from None
    if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
        raise ConversionError(f"{xml_path.name} is not an OpenVINO IR graph (no <net> with layers and edges)")
    layers = {}
    for element in root.iter("layer"):
        data = element.find("data")
        output, given = element.find("output"), element.find("input")
        ports = tuple(port.get("id", "") for port in output.iter("port")) if output is not None else ()
        first = given.find("port") if given is not None else None
        dims = tuple(int(d.text or 0) for d in first.iter("dim")) if first is not None else ()
        attributes = dict(data.attrib) if data is not None else {}
        layer = _Layer(element.get("id", ""), element.get("name", ""), element.get("type", ""), attributes, ports, dims)
        layers[layer.id] = layer
    edges = {
        (edge.get("to-layer", ""), edge.get("to-port", "")): (edge.get("from-layer", ""), edge.get("from-port", ""))
        for edge in root.iter("edge")
    }
    return layers, edges


def _inputs_of(layer: _Layer, edges: dict[tuple[str, str], tuple[str, str]]) -> list[tuple[str, str]]:
    ports = sorted((int(port), source) for (to, port), source in edges.items() if to == layer.id)
    return [source for _, source in ports]


def convert(xml_path: Path, bin_path: Path) -> bytes:
    """The ONNX model (serialised) equivalent to the IR `xml_path` with weights `bin_path`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers, edges = _read(xml_path)
    weights = bin_path.read_bytes()
    constants: dict[str, np.ndarray] = {}  # tensor name -> value, for Const and Convert of a Const
    nodes, graph_inputs, graph_outputs, initializers = [], [], [], []

    def tensor(source: tuple[str, str]) -> str:
        return f"t{source[0]}_{source[1]}"

    def constant(name: str) -> np.ndarray:
        if name not in constants:
            raise ConversionError(f"a weight of the graph is computed, not constant ({name})")
        return constants[name]

    order = _topological(layers, edges)
    for layer in order:
        sources = _inputs_of(layer, edges)
        ins = [tensor(s) for s in sources]
        out = tensor((layer.id, layer.outputs[0])) if layer.outputs else ""
        kind = layer.type
        if kind == "Parameter":
            shape = _ints(layer.data["shape"])
            graph_inputs.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, shape))
            nodes.append(helper.make_node("Identity", ["input"], [out], name=f"n{layer.id}"))
        elif kind == "Const":
            dtype = _DTYPES.get(layer.data.get("element_type", ""))
            if dtype is None:
                raise ConversionError(f"constant {layer.name}: element type {layer.data.get('element_type')!r}")
            offset, size = int(layer.data["offset"]), int(layer.data["size"])
            if offset + size > len(weights):
                raise ConversionError(f"constant {layer.name} lies past the end of {bin_path.name}")
            array = np.frombuffer(weights, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset)
            constants[out] = array.reshape(_ints(layer.data.get("shape", "")) or ()).astype(np.float32)
        elif kind == "Convert":
            if ins[0] not in constants:
                raise ConversionError(f"Convert {layer.name} of a computed tensor is not supported")
            constants[out] = constants[ins[0]].astype(np.float32)
        elif kind in ("Convolution", "GroupConvolution"):
            kernel = constant(ins[1])
            group = 1
            if kind == "GroupConvolution":  # [G, O/G, I/G, kh, kw] -> [O, I/G, kh, kw]
                group = kernel.shape[0]
                kernel = kernel.reshape(-1, *kernel.shape[2:])
            if layer.data.get("auto_pad", "explicit") != "explicit":
                raise ConversionError(f"{kind} {layer.name}: auto_pad {layer.data['auto_pad']!r}")
            name = f"w{layer.id}"
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(kernel, np.float32), name))
            nodes.append(
                helper.make_node(
                    "Conv",
                    [ins[0], name],
                    [out],
                    name=f"n{layer.id}",
                    group=group,
                    strides=_ints(layer.data["strides"]),
                    dilations=_ints(layer.data["dilations"]),
                    pads=_ints(layer.data["pads_begin"]) + _ints(layer.data["pads_end"]),
                    kernel_shape=list(kernel.shape[2:]),
                )
            )
        elif kind in ("Add", "Multiply"):
            operands = []
            for position, name in enumerate(ins):
                if name in constants:
                    initial = f"c{layer.id}_{position}"
                    initializers.append(numpy_helper.from_array(constant(name), initial))
                    operands.append(initial)
                else:
                    operands.append(name)
            nodes.append(helper.make_node("Add" if kind == "Add" else "Mul", operands, [out], name=f"n{layer.id}"))
        elif kind == "PReLU":
            slope = constant(ins[1]).reshape(-1)
            if slope.size == 1:  # one slope: LeakyRelu, which ONNX Runtime runs several times faster than PRelu
                alpha = float(slope[0])
                nodes.append(helper.make_node("LeakyRelu", [ins[0]], [out], name=f"n{layer.id}", alpha=alpha))
                continue
            name = f"s{layer.id}"
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(slope.reshape(-1, 1, 1)), name))
            nodes.append(helper.make_node("PRelu", [ins[0], name], [out], name=f"n{layer.id}"))
        elif kind == "Sigmoid":
            nodes.append(helper.make_node("Sigmoid", [ins[0]], [out], name=f"n{layer.id}"))
        elif kind in ("AvgPool", "MaxPool"):
            if (
                layer.data.get("rounding_type", "floor") != "floor"
                or layer.data.get("auto_pad", "explicit") != "explicit"
            ):
                raise ConversionError(f"{kind} {layer.name}: only explicit padding with floor rounding is supported")
            options = {
                "kernel_shape": _ints(layer.data["kernel"]),
                "strides": _ints(layer.data["strides"]),
                "pads": _ints(layer.data["pads_begin"]) + _ints(layer.data["pads_end"]),
            }
            if kind == "AvgPool":
                options["count_include_pad"] = 0 if layer.data.get("exclude-pad", "true") == "true" else 1
            op = "AveragePool" if kind == "AvgPool" else "MaxPool"
            nodes.append(helper.make_node(op, [ins[0]], [out], name=f"n{layer.id}", **options))
        elif kind == "Result":
            nodes.append(helper.make_node("Identity", [ins[0]], ["output"], name=f"n{layer.id}"))
            graph_outputs.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, list(layer.input_shape)))
        else:
            raise ConversionError(f"operation {kind} ({layer.name}) is not one this converter knows")
    if len(graph_inputs) != 1 or len(graph_outputs) != 1:
        raise ConversionError(
            f"the graph has {len(graph_inputs)} inputs and {len(graph_outputs)} outputs, not one each"
        )
    graph = helper.make_graph(nodes, "openvino_ir", graph_inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="openvino_onnx.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _topological(layers: dict[str, _Layer], edges: dict[tuple[str, str], tuple[str, str]]) -> list[_Layer]:
    """The layers in an order where every layer comes after those feeding it (by id among equals)."""
    feeds: dict[str, set[str]] = {layer_id: set() for layer_id in layers}
    for (to, _), (source, _) in edges.items():
        if to in feeds:
            feeds[to].add(source)
    done: list[_Layer] = []
    placed: set[str] = set()
    pending = sorted(layers, key=int)
    while pending:
        ready = [layer_id for layer_id in pending if feeds[layer_id] <= placed]
        if not ready:
            raise ConversionError("the graph has a cycle")
        for layer_id in ready:
            done.append(layers[layer_id])
            placed.add(layer_id)
        pending = [layer_id for layer_id in pending if layer_id not in placed]
    return done


def reference(xml_path: Path, shape: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """A fixed input of `shape` and what OpenVINO's runtime gives for it."""
    import openvino

    inputs = np.random.default_rng(REFERENCE_SEED).uniform(0, 255, shape).astype(np.float32)
    # float32 throughout: on a CPU with bfloat16 units OpenVINO would otherwise compute in bfloat16
    compiled = openvino.Core().compile_model(str(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return inputs, np.asarray(compiled(inputs)[0], dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert an OpenVINO IR graph to ONNX.")
    parser.add_argument("--xml", type=Path, required=True, help="the IR graph; its weights are the .bin beside it")
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX file to write")
    parser.add_argument("--reference", type=Path, help="also write OpenVINO's output on a fixed input here (.npz)")
    args = parser.parse_args(argv)
    try:
        bin_path = args.xml.with_suffix(".bin")
        if not bin_path.is_file():
            raise ConversionError(f"{args.xml.name} has no weights beside it ({bin_path.name})")
        args.onnx.write_bytes(convert(args.xml, bin_path))
        if args.reference:
            import onnx

            dims = onnx.load(str(args.onnx)).graph.input[0].type.tensor_type.shape.dim
            inputs, outputs = reference(args.xml, [d.dim_value for d in dims])
            np.savez(args.reference, input=inputs, output=outputs)
    except (ConversionError, OSError) as exc:
        print(f"openvino_onnx: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fusion of the liveness recipe as an ONNX graph; runs in the conversion Python (the `onnx` package).

    <python with onnx> packaging/recipes/liveness_onnx.py --spec fusion.json --onnx fusion.onnx

`fusion.json` holds the fitted fusion's `features`, `fill`, `coefficients` and `intercept`
(liveness.py writes it). The graph takes `cues` [N, F] float32 (the features in that order) and gives
`attack_logit` [N, 1] = (cues - fill) . coefficients + intercept. It imports nothing of the appliance;
the same spec always gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


def build(spec: dict) -> onnx.ModelProto:
    features = spec["features"]
    fill = np.asarray(spec["fill"], dtype=np.float32).reshape(1, -1)
    coefficients = np.asarray(spec["coefficients"], dtype=np.float32).reshape(-1, 1)
    intercept = np.asarray([[spec["intercept"]]], dtype=np.float32)
    if fill.shape[1] != len(features) or coefficients.shape[0] != len(features):
        raise ValueError("features, fill and coefficients differ in length")
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["cues", "fill"], ["centred"]),
            helper.make_node("MatMul", ["centred", "coefficients"], ["weighted"]),
            helper.make_node("Add", ["weighted", "intercept"], ["attack_logit"]),
        ],
        "liveness_fusion",
        [helper.make_tensor_value_info("cues", TensorProto.FLOAT, ["batch", len(features)])],
        [helper.make_tensor_value_info("attack_logit", TensorProto.FLOAT, ["batch", 1])],
        [
            numpy_helper.from_array(fill, "fill"),
            numpy_helper.from_array(coefficients, "coefficients"),
            numpy_helper.from_array(intercept, "intercept"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="liveness-recipe",
        doc_string="features: " + ", ".join(features),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the liveness fusion as an ONNX graph.")
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        args.onnx.write_bytes(build(json.loads(args.spec.read_text())).SerializeToString())
    except (ValueError, KeyError, OSError) as exc:
        print(f"liveness_onnx: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

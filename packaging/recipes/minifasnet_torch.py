"""The conversion step of the MiniFASNet recipe: Silent-Face's PyTorch weights (.pth) to ONNX.

Runs in its own virtual environment with PyTorch (packaging/recipes/requirements-convert.txt); it
imports nothing of the appliance, and the appliance never imports PyTorch. `minifasnet.py` runs it:

    <python with torch> packaging/recipes/minifasnet_torch.py --pth W.pth --onnx OUT.onnx --reference OUT.npz

The network is Minivision's MiniFASNet (Silent-Face-Anti-Spoofing, Apache-2.0): a MobileFaceNet-like
stack of depthwise-separable blocks, optionally with squeeze-and-excitation at the end of each residual
stage (MiniFASNetV1SE), three classes. The published files are bare state dicts, so the layer widths
(pruned, different per file) are read from the weights' shapes and the network is rebuilt around them;
loading is strict, so a file whose layers do not fit this topology is refused. The export takes an
[N, 3, 80, 80] input (BGR pixels 0-255, as Silent-Face feeds it) and gives [N, 3] logits (class 1 =
real). `--reference` saves a fixed input and PyTorch's output for it, which the recipe compares with
ONNX Runtime's and turns into the model's canary.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_SIZE = 80
REFERENCE_SEED = 20261126


class ConvBlock(nn.Module):
    """Convolution without bias, batch norm, and PReLU unless `linear`."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, groups: int = 1, linear=False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = None if linear else nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(reduced)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.relu(self.bn1(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(self.bn2(self.fc2(weight)))


class DepthWise(nn.Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; residual when the shape is kept."""

    def __init__(self, weights: Mapping[str, torch.Tensor], prefix: str, stride: int, residual: bool):
        super().__init__()
        expanded, c_in = weights[f"{prefix}.conv.conv.weight"].shape[:2]
        c_out = weights[f"{prefix}.project.conv.weight"].shape[0]
        self.conv = ConvBlock(c_in, expanded, 1, 1, 0)
        self.conv_dw = ConvBlock(expanded, expanded, 3, stride, 1, groups=expanded)
        self.project = ConvBlock(expanded, c_out, 1, 1, 0, linear=True)
        se = weights.get(f"{prefix}.se_module.fc1.weight")
        self.se_module = SqueezeExcite(c_out, se.shape[0]) if se is not None else None
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class Stage(nn.Module):
    """Residual depthwise blocks, as many as the weights hold (`<name>.model.<i>`)."""

    def __init__(self, weights: Mapping[str, torch.Tensor], name: str):
        super().__init__()
        count = 1 + max(int(key.split(".")[2]) for key in weights if key.startswith(f"{name}.model."))
        self.model = nn.Sequential(*(DepthWise(weights, f"{name}.model.{i}", 1, True) for i in range(count)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    def __init__(self, weights: Mapping[str, torch.Tensor]):
        super().__init__()
        first = weights["conv1.conv.weight"].shape[0]
        second = weights["conv2_dw.conv.weight"].shape[0]
        self.conv1 = ConvBlock(3, first, 3, 2, 1)
        self.conv2_dw = ConvBlock(first, second, 3, 1, 1, groups=second)
        self.conv_23 = DepthWise(weights, "conv_23", 2, False)
        self.conv_3 = Stage(weights, "conv_3")
        self.conv_34 = DepthWise(weights, "conv_34", 2, False)
        self.conv_4 = Stage(weights, "conv_4")
        self.conv_45 = DepthWise(weights, "conv_45", 2, False)
        self.conv_5 = Stage(weights, "conv_5")
        wide, narrow = weights["conv_6_sep.conv.weight"].shape[:2]
        self.conv_6_sep = ConvBlock(narrow, wide, 1, 1, 0)
        kernel = weights["conv_6_dw.conv.weight"].shape[-1]
        self.conv_6_dw = ConvBlock(wide, wide, kernel, 1, 0, groups=wide, linear=True)
        embedding = weights["linear.weight"].shape[0]
        self.linear = nn.Linear(wide, embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, weights["prob.weight"].shape[0], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4, self.conv_45):
            x = layer(x)
        x = self.conv_6_dw(self.conv_6_sep(self.conv_5(x)))
        return self.prob(self.bn(self.linear(torch.flatten(x, 1))))


def load(path: Path) -> MiniFASNet:
    """The network with the weights of `path`, in eval mode; ValueError if they do not fit it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for an unreadable file
        raise ValueError(f"{path.name} is not a PyTorch state dict: {str(exc).splitlines()[0]}") from None
    weights = {key.removeprefix("module."): value for key, value in state.items()}
    try:
        model = MiniFASNet(weights)
        model.load_state_dict(weights, strict=True)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path.name} does not hold MiniFASNet weights: {str(exc).splitlines()[0]}") from None
    return model.eval()


def convert(pth: Path, onnx_file: Path, reference: Path) -> None:
    model = load(pth)
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the TorchScript exporter's notice
    torch.onnx.export(
        model,
        (example,),
        str(onnx_file),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    inputs = np.random.default_rng(REFERENCE_SEED).uniform(0, 255, (2, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    with torch.no_grad():
        outputs = model(torch.from_numpy(inputs)).numpy()
    np.savez(reference, input=inputs, output=outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert Silent-Face MiniFASNet weights (.pth) to ONNX.")
    parser.add_argument("--pth", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True, help="where to write the ONNX graph")
    parser.add_argument("--reference", type=Path, required=True, help="where to write the input/output check (.npz)")
    args = parser.parse_args(argv)
    try:
        convert(args.pth, args.onnx, args.reference)
    except (ValueError, OSError) as exc:
        print(f"minifasnet_torch: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

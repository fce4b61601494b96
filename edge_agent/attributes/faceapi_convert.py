"""face-api.js AgeGenderNet (TensorFlow.js layers weights) -> ONNX, built op by op with `onnx.helper`.

The network is face-api.js's TinyXception(2) backbone plus two fully connected heads
(src/xception/TinyXception.ts, src/ageGenderNet/AgeGenderNet.ts at commit a86f011d). The graph here
reproduces that forward pass exactly; only the layout changes (TF.js runs NHWC, the ONNX graph NCHW,
because that is what ONNX Runtime's CPU kernels and TensorRT prefer).

ONNX contract of the converted model:
  input  `input`  float32 [N, 3, 112, 112], RGB, raw 0..255 values, NCHW. The normalisation
         (x - [122.782, 117.001, 104.298]) / 256 happens INSIDE the graph, so callers cannot get it wrong.
  output `age`    float32 [N], years (regression, unclipped).
  output `gender` float32 [N, 2], softmax probabilities [male, female].
Callers pad the face to a square and resize it to 112 (see faceapi_crops.upstream_input).

Checking the sha256 of the TF.js files is the caller's job; this module only checks that the manifest
and the shard agree with each other and with the architecture.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from storelens.errors import ModelError
from storelens.files import write_atomic

log = logging.getLogger(__name__)

INPUT_NAME = "input"
AGE_OUTPUT = "age"
GENDER_OUTPUT = "gender"
INPUT_SIZE = 112
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_DIVISOR = 256.0
NUM_MAIN_BLOCKS = 2
# Opset 17 / IR 8: old enough for every onnxruntime and TensorRT release we ship against.
OPSET = 17
IR_VERSION = 8

_DTYPE_BYTES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2}
_NUMPY_DTYPE = {"float32": "<f4", "int32": "<i4", "uint8": "u1", "uint16": "<u2", "float16": "<f2"}


@dataclass(frozen=True)
class WeightEntry:
    """One tensor of a TF.js weights manifest."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # dtype of the decoded tensor
    stored_dtype: str  # dtype of the bytes in the shard (differs when quantised)
    scale: float = 1.0
    minimum: float = 0.0

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * _DTYPE_BYTES[self.stored_dtype]


def _parse_entry(raw: Mapping[str, Any], manifest_path: Path) -> WeightEntry:
    try:
        name, shape, dtype = str(raw["name"]), tuple(int(d) for d in raw["shape"]), str(raw["dtype"])
        quant = raw.get("quantization")
        stored = str(quant["dtype"]) if quant else dtype
        if stored not in _DTYPE_BYTES or dtype not in _DTYPE_BYTES:
            raise ValueError(f"unsupported dtype {stored!r}/{dtype!r}")
        if quant and stored in ("uint8", "uint16"):
            return WeightEntry(name, shape, dtype, stored, float(quant["scale"]), float(quant["min"]))
        return WeightEntry(name, shape, dtype, stored)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"weights manifest {manifest_path}: bad entry {raw!r}: {exc}") from None


def read_manifest(manifest_path: Path) -> list[WeightEntry]:
    """The manifest's tensors in shard order. face-api.js ships one group with one shard file."""
    manifest_path = Path(manifest_path)
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"weights manifest {manifest_path} is unreadable: {exc}") from None
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise ValueError(f"weights manifest {manifest_path}: expected a list with one weight group")
    paths, weights = groups[0].get("paths"), groups[0].get("weights")
    if not isinstance(paths, list) or len(paths) != 1 or not isinstance(weights, list):
        raise ValueError(f"weights manifest {manifest_path}: expected one shard path and a weights list")
    return [_parse_entry(w, manifest_path) for w in weights]


def _decode(entry: WeightEntry, raw: bytes) -> np.ndarray:
    values = np.frombuffer(raw, dtype=_NUMPY_DTYPE[entry.stored_dtype])
    if entry.stored_dtype in ("uint8", "uint16") and entry.stored_dtype != entry.dtype:
        # TF.js affine dequantisation: value = byte * scale + min, computed in float32 as tfjs does.
        values = values.astype(np.float32) * np.float32(entry.scale) + np.float32(entry.minimum)
    return values.astype(np.float32).reshape(entry.shape)


def decode_weights(manifest_path: Path, shard_path: Path) -> dict[str, np.ndarray]:
    """name -> float32 array, from the shard bytes in manifest order; ValueError if they disagree."""
    entries = read_manifest(manifest_path)
    shard_path = Path(shard_path)
    try:
        data = shard_path.read_bytes()
    except OSError as exc:
        raise ValueError(f"weights shard {shard_path} is unreadable: {exc}") from None
    expected = sum(e.nbytes for e in entries)
    if len(data) != expected:
        raise ValueError(
            f"weights shard {shard_path} has {len(data)} bytes but manifest {manifest_path} "
            f"describes {expected}: the files are truncated or do not belong together"
        )
    weights, offset = {}, 0
    for entry in entries:
        weights[entry.name] = _decode(entry, data[offset : offset + entry.nbytes])
        offset += entry.nbytes
    return weights


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow 'same' padding: (before, after, output size); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _expect_bias(bias: np.ndarray, channels: int, name: str) -> None:
    if bias.shape != (channels,):
        raise ValueError(f"weights tensor {name} has shape {bias.shape}, expected ({channels},)")


class _GraphBuilder:
    """Collects nodes and initializers. Callers track the (static) spatial size so 'same' pads are
    explicit; the builder tracks channels, so weights of the wrong shape fail with their name here
    (ONNX's checker does not compare Conv channels)."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.used: set[str] = set()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.channels: dict[str, int] = {INPUT_NAME: 3}
        self._count = 0

    def tensor(self, name: str, rank: int) -> np.ndarray:
        if name not in self.weights:
            raise ValueError(f"weights manifest has no tensor {name!r} (needed by AgeGenderNet)")
        value = self.weights[name]
        if value.ndim != rank:
            raise ValueError(f"weights tensor {name!r} has shape {value.shape}, expected rank {rank}")
        self.used.add(name)
        return value

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, channels: int | None = None, **attrs: Any) -> str:
        """Add a node; its output has `channels` channels, or those of its first input."""
        from onnx import helper

        self._count += 1
        out = f"{hint}/{op}_{self._count}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.channels[out] = self.channels[inputs[0]] if channels is None else channels
        return out

    def expect_channels(self, x: str, channels: int, what: str) -> None:
        if self.channels[x] != channels:
            raise ValueError(
                f"AgeGenderNet layer {what} expects {channels} input channels, the weights give {self.channels[x]}"
            )

    def add(self, a: str, b: str, hint: str) -> str:
        self.expect_channels(b, self.channels[a], f"{hint} (residual add)")
        return self.node("Add", [a, b], hint)

    def conv(
        self,
        x: str,
        size: int,
        w_oihw: np.ndarray,
        bias: np.ndarray | None,
        stride: int,
        prefix: str,
        group: int = 1,
    ) -> tuple[str, int]:
        self.expect_channels(x, w_oihw.shape[1] * group, prefix)
        kernel = w_oihw.shape[2]
        before, after, out = _same_pads(size, kernel, stride)
        inputs = [x, self.const(f"{prefix}/W", w_oihw)]
        if bias is not None:
            _expect_bias(bias, w_oihw.shape[0], f"{prefix}/bias")
            inputs.append(self.const(f"{prefix}/B", bias))
        y = self.node(
            "Conv",
            inputs,
            prefix,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[before, before, after, after],
            group=group,
            channels=w_oihw.shape[0],
        )
        return y, out


def _conv_params(g: _GraphBuilder, x: str, size: int, prefix: str, stride: int) -> tuple[str, int]:
    """TinyXception `conv`: conv2d(filters HWIO, 'same') + bias."""
    filters = g.tensor(f"{prefix}/filters", 4)
    return g.conv(x, size, filters.transpose(3, 2, 0, 1), g.tensor(f"{prefix}/bias", 1), stride, prefix)


def _separable(g: _GraphBuilder, x: str, size: int, prefix: str) -> str:
    """tf.separableConv2d(depthwise [kh,kw,C,1], pointwise [1,1,C,Co], stride 1, 'same') + bias."""
    depthwise = g.tensor(f"{prefix}/depthwise_filter", 4)
    if depthwise.shape[3] != 1:
        raise ValueError(f"weights tensor {prefix}/depthwise_filter: channel multiplier must be 1")
    channels = depthwise.shape[2]
    y, _ = g.conv(x, size, depthwise.transpose(2, 3, 0, 1), None, 1, f"{prefix}/depthwise", group=channels)
    pointwise = g.tensor(f"{prefix}/pointwise_filter", 4).transpose(3, 2, 0, 1)
    y, _ = g.conv(y, size, pointwise, g.tensor(f"{prefix}/bias", 1), 1, f"{prefix}/pointwise")
    return y


def _relu(g: _GraphBuilder, x: str, prefix: str) -> str:
    return g.node("Relu", [x], prefix)


def _reduction_block(
    g: _GraphBuilder, x: str, size: int, prefix: str, activate_input: bool
) -> tuple[str, int]:
    out = _relu(g, x, prefix) if activate_input else x
    out = _separable(g, out, size, f"{prefix}/separable_conv0")
    out = _separable(g, _relu(g, out, prefix), size, f"{prefix}/separable_conv1")
    before, after, pooled = _same_pads(size, 3, 2)
    # ONNX MaxPool ignores padded cells, like TF's 'same' max pooling.
    out = g.node(
        "MaxPool", [out], prefix, kernel_shape=[3, 3], strides=[2, 2], pads=[before, before, after, after]
    )
    # The shortcut reads the block's input before the ReLU, as the TS code does.
    shortcut, _ = _conv_params(g, x, size, f"{prefix}/expansion_conv", 2)
    return g.add(out, shortcut, prefix), pooled


def _main_block(g: _GraphBuilder, x: str, size: int, prefix: str) -> str:
    out = x
    for i in range(3):
        out = _separable(g, _relu(g, out, prefix), size, f"{prefix}/separable_conv{i}")
    return g.add(out, x, prefix)


def _backbone(g: _GraphBuilder, x: str) -> tuple[str, int]:
    """TinyXception.forwardInput after normalisation: 112 -> 7x7x512 bottleneck features."""
    out, size = _conv_params(g, x, INPUT_SIZE, "entry_flow/conv_in", 2)
    out = _relu(g, out, "entry_flow/conv_in")
    out, size = _reduction_block(g, out, size, "entry_flow/reduction_block_0", activate_input=False)
    out, size = _reduction_block(g, out, size, "entry_flow/reduction_block_1", activate_input=True)
    for idx in range(NUM_MAIN_BLOCKS):
        out = _main_block(g, out, size, f"middle_flow/main_block_{idx}")
    out, size = _reduction_block(g, out, size, "exit_flow/reduction_block", activate_input=True)
    out = _separable(g, out, size, "exit_flow/separable_conv")
    return _relu(g, out, "exit_flow"), size


def _fc(g: _GraphBuilder, x: str, prefix: str) -> str:
    weights, bias = g.tensor(f"{prefix}/weights", 2), g.tensor(f"{prefix}/bias", 1)
    g.expect_channels(x, weights.shape[0], f"{prefix}/weights")
    _expect_bias(bias, weights.shape[1], f"{prefix}/bias")
    inputs = [x, g.const(f"{prefix}/W", weights), g.const(f"{prefix}/B", bias)]
    return g.node("Gemm", inputs, prefix, channels=weights.shape[1])


def _normalise(g: _GraphBuilder) -> str:
    mean = np.asarray(MEAN_RGB, np.float32).reshape(1, 3, 1, 1)
    centred = g.node("Sub", [INPUT_NAME, g.const("normalise/mean", mean)], "normalise")
    # 1/256 is exact in float32, so Mul gives bit-identical results to TF.js's div.
    return g.node("Mul", [centred, g.const("normalise/scale", np.float32(1.0 / INPUT_DIVISOR))], "normalise")


def _heads(g: _GraphBuilder, features: str, size: int) -> None:
    from onnx import helper, numpy_helper

    if size != 7:
        raise ValueError(f"AgeGenderNet expects 7x7 bottleneck features, the graph produced {size}x{size}")
    pooled = g.node("AveragePool", [features], "head", kernel_shape=[7, 7], strides=[2, 2])
    flat = g.node("Flatten", [pooled], "head", axis=1)
    g.initializers.append(numpy_helper.from_array(np.array([1], np.int64), "head/squeeze_axes"))
    g.nodes.append(helper.make_node("Squeeze", [_fc(g, flat, "fc/age"), "head/squeeze_axes"], [AGE_OUTPUT]))
    g.nodes.append(helper.make_node("Softmax", [_fc(g, flat, "fc/gender")], [GENDER_OUTPUT], axis=1))


def build_model(weights: Mapping[str, np.ndarray]) -> Any:
    """The checked onnx.ModelProto for decoded AgeGenderNet weights."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder(weights)
    features, size = _backbone(g, _normalise(g))
    _heads(g, features, size)
    unused = sorted(set(weights) - g.used)
    if unused:
        raise ValueError(f"weights manifest has tensors AgeGenderNet does not use: {', '.join(unused)}")
    graph = helper.make_graph(
        g.nodes,
        "face_api_age_gender_net",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [
            helper.make_tensor_value_info(AGE_OUTPUT, TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info(GENDER_OUTPUT, TensorProto.FLOAT, ["N", 2]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="storelens.faceapi_convert",
        ir_version=IR_VERSION,
    )
    model.doc_string = (
        "face-api.js AgeGenderNet (MIT). input: float32 NCHW RGB 0..255, 112x112, face padded to square; "
        "normalised inside as (x - mean_rgb) / 256. outputs: age (years), gender [male, female]."
    )
    helper.set_model_props(
        model,
        {
            "mean_rgb": json.dumps(MEAN_RGB),
            "divisor": str(INPUT_DIVISOR),
            "layout": "NCHW",
            "channels": "RGB",
            "gender_order": "male,female",
        },
    )
    onnx.checker.check_model(model, full_check=True)  # full_check runs strict shape inference
    return model


def convert(manifest_path: Path, shard_path: Path, out_path: Path) -> None:
    """Write the ONNX AgeGenderNet for a TF.js manifest + shard to out_path (atomically)."""
    from onnx.checker import ValidationError
    from onnx.shape_inference import InferenceError

    try:
        model = build_model(decode_weights(Path(manifest_path), Path(shard_path)))
    except (ValidationError, InferenceError) as exc:
        raise ValueError(
            f"weights manifest {manifest_path}: tensor shapes do not fit AgeGenderNet: {exc}"
        ) from None
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, model.SerializeToString(), what="age model", error=ModelError)
    log.info("converted %s -> %s (opset %d)", Path(shard_path).name, out_path, OPSET)


@dataclass(frozen=True)
class UpstreamCase:
    """One expectation of face-api.js's own test (test/tests/ageGenderNet/ageGenderNet.test.ts)."""

    file: str
    age_range: tuple[float, float]
    gender: int  # index into the gender output: 0 male, 1 female
    min_probability: float


UPSTREAM_CASES = (
    UpstreamCase("angry_cropped.jpg", (36.0, 42.0), 0, 0.9),
    UpstreamCase("surprised_cropped.jpg", (24.0, 28.0), 1, 0.8),
)
_GENDER_NAMES = ("male", "female")


def _check_case(session: Any, case: UpstreamCase, test_dir: Path) -> list[str]:
    import cv2

    from edge_agent.attributes.faceapi_crops import upstream_input

    path = test_dir / case.file
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return [f"{path}: cannot read the image"]
    x = upstream_input(image[:, :, ::-1])[None].transpose(0, 3, 1, 2)
    age, gender = session.run([AGE_OUTPUT, GENDER_OUTPUT], {INPUT_NAME: np.ascontiguousarray(x)})
    problems = []
    low, high = case.age_range
    if not low <= float(age[0]) <= high:
        problems.append(f"{case.file}: age {float(age[0]):.2f} outside {low:g}..{high:g}")
    prob = float(gender[0, case.gender])
    if prob < case.min_probability:
        name = _GENDER_NAMES[case.gender]
        problems.append(f"{case.file}: {name} probability {prob:.3f} below {case.min_probability}")
    return problems


def verify_against_upstream_expectations(onnx_path: Path, test_dir: Path) -> list[str]:
    """Run face-api.js's own test images (whole image as the face, padded and resized as NetInput does)
    through the converted model; one line per failed expectation, empty when all pass."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    problems: list[str] = []
    for case in UPSTREAM_CASES:
        problems += _check_case(session, case, Path(test_dir))
    return problems


# Outputs of a build that passed face-api.js's own expectations above (ONNX Runtime CPU, onnx 1.23),
# on three synthetic inputs defined by integer arithmetic and smooth functions: no media needed, so a
# box without the upstream test images can still check that a fresh build computes the same function.
# A wrong pad, transposed filter or misread quantisation moves these by whole years; float32
# differences between CPUs and runtimes stay below 1e-3.
SELF_CHECK_AGES = (8.705954, 23.160208, 18.291182)
SELF_CHECK_MALE = (0.783846, 0.562432, 0.940773)
SELF_CHECK_AGE_TOLERANCE = 0.02
SELF_CHECK_PROB_TOLERANCE = 1e-3


def self_check_inputs() -> np.ndarray:
    """(3, 3, 112, 112) float32 RGB 0..255: a modular ramp, a smooth wave and a checkerboard."""
    i, j = np.meshgrid(np.arange(INPUT_SIZE), np.arange(INPUT_SIZE), indexing="ij")
    ramp = np.stack([(i * 7 + j * 13 + c * 50) % 256 for c in range(3)])
    wave = np.stack([np.clip(128 + 90 * np.sin(i / (9 + c)) * np.cos(j / 7), 0, 255) for c in range(3)])
    board = np.stack([np.where(((i // 16) + (j // 16)) % 2 == 0, 200 - 40 * c, 40 + 30 * c) for c in range(3)])
    return np.stack([ramp, wave, board]).astype(np.float32)


def verify_reference_outputs(onnx_path: Path) -> list[str]:
    """The built graph against the recorded outputs of a verified build; one line per mismatch."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    ages, gender = session.run([AGE_OUTPUT, GENDER_OUTPUT], {INPUT_NAME: self_check_inputs()})
    problems = []
    for k, (age, want_age, male, want_male) in enumerate(
        zip(ages, SELF_CHECK_AGES, gender[:, 0], SELF_CHECK_MALE, strict=True)
    ):
        if abs(float(age) - want_age) > SELF_CHECK_AGE_TOLERANCE:
            problems.append(f"self-check input {k}: age {float(age):.4f}, the verified build gives {want_age:.4f}")
        if abs(float(male) - want_male) > SELF_CHECK_PROB_TOLERANCE:
            problems.append(f"self-check input {k}: male {float(male):.5f}, the verified build gives {want_male:.5f}")
    return problems

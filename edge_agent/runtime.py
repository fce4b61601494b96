"""Inference runtimes behind one session interface: ONNX Runtime (CPU, CUDA, TensorRT) and OpenVINO.

`models.providers` lists them in order of preference; the first one this box has runs the model.
OpenVINO comes from the `openvino` package (extra storelens[openvino]), which installs beside
onnxruntime under its own module name and reads the same ONNX files. onnxruntime-openvino was
not used: it replaces the `onnxruntime` module itself, so next to onnxruntime (which every edge
install has) two distributions would write one package, the trap OpenCV's wheels set.

`OpenVinoSession` answers the part of onnxruntime.InferenceSession the stages use: `run`,
`get_inputs`, `get_outputs`, `get_providers`. Each thread gets its own infer request (an
InferRequest is not thread-safe; a compiled model is).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPENVINO = "OpenVINO"  # what get_providers() names, as ORT names its own "CPUExecutionProvider"
ORT_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def openvino_bf16() -> bool:
    """Whether this CPU runs bf16 natively (AVX512-BF16 / AMX), as OpenVINO reports it."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def ort_available() -> set[str]:
    import onnxruntime as ort

    return set(ort.get_available_providers())


def choose(preferred: list[str]) -> tuple[str, list[str]]:
    """('openvino', []) or ('onnxruntime', [ORT provider names]) for the first runtime this box has.

    A GPU provider listed before openvino wins over it; ORT's CPU provider always backs ORT up.
    """
    offered = None
    for name in preferred:
        if name == "openvino":
            if openvino_available():
                return "openvino", []
            continue
        offered = ort_available() if offered is None else offered
        if ORT_PROVIDERS[name] in offered:
            rest = [ORT_PROVIDERS[p] for p in preferred if p != "openvino" and ORT_PROVIDERS[p] in offered]
            return "onnxruntime", list(dict.fromkeys([*rest, "CPUExecutionProvider"]))
    return "onnxruntime", ["CPUExecutionProvider"]


@dataclass(frozen=True)
class TensorInfo:
    """What NodeArg gives: name, shape (ints, or strings for dynamic dims), element type."""

    name: str
    shape: list[int | str]
    type: str


def _shape(partial) -> list[int | str]:
    return [d.get_length() if d.is_static else f"d{i}" for i, d in enumerate(partial)]


class OpenVinoSession:
    """An ONNX model compiled by OpenVINO for the CPU, with `threads` inference threads."""

    def __init__(self, model: Path | bytes, threads: int = 1, device: str = "CPU", precision: str = "f32") -> None:
        import openvino as ov

        core = ov.Core()
        # f32 by default: the CPU path's numbers. On CPUs with bf16 units OpenVINO would pick bf16 by
        # itself, faster but with differences that move scores across thresholds (bench providers shows
        # both). One stream, latency hint: one camera thread calls each session.
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                                  "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        network = core.read_model(model, b"") if isinstance(model, bytes) else core.read_model(str(model))
        # Names as the ONNX graph has them (compiling may rename tensors); ports in the same order.
        self._inputs = [_info(p) for p in network.inputs]
        self._outputs = [_info(p) for p in network.outputs]
        self._compiled = core.compile_model(network, device, config)
        self._in_ports = dict(zip((i.name for i in self._inputs), self._compiled.inputs, strict=True))
        self._out_ports = dict(zip((o.name for o in self._outputs), self._compiled.outputs, strict=True))
        self._local = threading.local()
        self.device = device
        self.precision = precision

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [f"{OPENVINO} {self.device}" + ("" if self.precision == "f32" else f" {self.precision}")]

    def run(self, output_names: list[str] | None, feed: dict[str, Any]) -> list:
        """Like InferenceSession.run: outputs in the order asked (all, in model order, for None)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer({self._in_ports[name]: value for name, value in feed.items()})
        names = output_names or [o.name for o in self._outputs]
        return [result[self._out_ports[name]].copy() for name in names]  # copies: the request reuses its buffers


def _info(port) -> TensorInfo:
    return TensorInfo(port.get_any_name(), _shape(port.get_partial_shape()), str(port.get_element_type()))

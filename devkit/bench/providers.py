"""`storelens bench providers`: milliseconds per inference of each model on each runtime, one thread.

Runtimes: ONNX Runtime CPU (and CUDA/TensorRT when onnxruntime-gpu offers them), OpenVINO CPU
(extra storelens[openvino]) and, for YuNet, OpenCV DNN, which is what `cv2.FaceDetectorYN` (the
default face backend) runs. Each model gets one fixed input of its real size with values in its
real range; outputs are compared with ONNX Runtime CPU's, so a faster runtime that computes
something else shows up. Speeds on a shared or busy machine are noisy: the runtimes take turns
inference by inference, the median of `repeat` runs after a warm-up is reported with the 90th
percentile beside it, and the speed-up is the median of the per-round ratios (robust to load drift).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storelens.config.models import ModelsConfig

DEFAULT_MODELS = ("yunet", "yolox_nano", "reid_0287", "faceapi_age", "age_v1")
_DYNAMIC = {"faceapi_age": 1, "age_v1": 1}  # batch for models with a dynamic first dimension


@dataclass(frozen=True)
class Timing:
    model: str
    runtime: str
    median_ms: float
    p90_ms: float
    max_rel_diff: float | None  # largest |difference| from ONNX Runtime CPU's outputs / their largest |value|
    note: str = ""
    speedup: float = float("nan")  # median over rounds of (ONNX Runtime CPU ms / this runtime's ms)


def _input(session) -> tuple[str, np.ndarray]:
    info = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in info.shape]
    rng = np.random.default_rng(0)
    return info.name, rng.uniform(0, 255, size=shape).astype(np.float32)


def _diff(reference: list, outputs: list) -> float:
    """Worst output's largest absolute difference, relative to that output's largest reference value."""
    worst = 0.0
    for ref, out in zip(reference, outputs, strict=True):
        ref, out = np.asarray(ref, np.float64).reshape(-1), np.asarray(out, np.float64).reshape(-1)
        worst = max(worst, float(np.max(np.abs(ref - out)) / max(float(np.max(np.abs(ref))), 1e-12)))
    return worst


def _runtimes(cfg: ModelsConfig) -> list[tuple[str, list[str], str]]:
    """(label, providers list for create_session, OpenVINO precision) for every runtime this box has."""
    from edge_agent.runtime import openvino_available, openvino_bf16, ort_available

    offered = ort_available()
    out = [("onnxruntime cpu", ["cpu"], "f32")]
    if openvino_available():
        out.append(("openvino cpu", ["openvino"], "f32"))
        if openvino_bf16():
            out.append(("openvino cpu bf16", ["openvino"], "bf16"))
    for name, provider in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")):
        if provider in offered:
            out.append((f"onnxruntime {name}", [name], "f32"))
    return out


def bench_model(name: str, cfg: ModelsConfig, repeat: int, warmup: int) -> Iterator[Timing]:
    """Every runtime on one model, interleaved (A B C A B C ...) so a load change on a shared box hits
    them alike; the speed-up is the median of the per-round ratios to ONNX Runtime CPU."""
    from edge_agent.models import create_session, resolve_model

    path = resolve_model(name, cfg)
    runs: list[tuple[str, Callable[[], list], str]] = []
    feed: dict | None = None
    for label, providers, precision in _runtimes(cfg):
        session = create_session(path, cfg.model_copy(update={"openvino_precision": precision}), name=name,
                                 providers=providers)
        if feed is None:
            input_name, tensor = _input(session)
            feed, outputs = {input_name: tensor}, [o.name for o in session.get_outputs()]
        runs.append((label, lambda s=session, f=feed: s.run(None, f), ""))
    if name.startswith("yunet"):
        runs.append(("opencv dnn cpu", _opencv_dnn(path, feed, outputs), "what cv2.FaceDetectorYN runs"))
    reference = runs[0][1]()
    samples = _interleaved([run for _label, run, _note in runs], repeat, warmup)
    for (label, run, note), ms in zip(runs, samples, strict=True):
        diff = None if label == runs[0][0] else _diff(reference, run())
        ratios = sorted(r / m for r, m in zip(samples[0], ms, strict=True))
        yield Timing(name, label, statistics.median(ms), ms_p90(ms), diff, note, statistics.median(ratios))


def ms_p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[int(0.9 * (len(ordered) - 1))]


def _interleaved(runs: list[Callable[[], object]], repeat: int, warmup: int) -> list[list[float]]:
    for _ in range(warmup):
        for run in runs:
            run()
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, out in zip(runs, samples, strict=True):
            t0 = time.perf_counter()
            run()
            out.append(1000 * (time.perf_counter() - t0))
    return samples


def _opencv_dnn(path: Path, feed: dict, outputs: list[str]) -> Callable[[], list]:
    """The raw forward pass through cv2.dnn, as cv2.FaceDetectorYN runs it (before its decoding),
    its outputs in the ONNX graph's order like the other runtimes'."""
    import cv2

    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(str(path))
    tensor = next(iter(feed.values()))

    def run() -> list:
        net.setInput(tensor)
        return [np.asarray(o).reshape(-1) for o in net.forward(outputs)]

    return run


def bench_providers(cfg: ModelsConfig, models: list[str], repeat: int = 50, warmup: int = 5) -> Iterator[Timing]:
    """Every requested model on every runtime, one inference thread each."""
    from storelens.errors import ModelError, UnavailableError

    one_thread = cfg.model_copy(update={"intra_op_threads": 1})
    for name in models:
        try:
            yield from bench_model(name, one_thread, repeat, warmup)
        except (ModelError, UnavailableError) as exc:
            yield Timing(name, "-", float("nan"), float("nan"), None, f"skipped: {exc}")

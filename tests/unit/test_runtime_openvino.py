"""OpenVINO as a runtime choice (edge_agent/runtime.py): the choice rule, and the same outputs as ONNX Runtime."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge_agent import runtime
from edge_agent.models import create_session, resolve_model
from storelens.config import parse_config
from storelens.errors import ConfigError

GPU = {"TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"}
CPU = {"CPUExecutionProvider"}


@pytest.mark.parametrize(("preferred", "offered", "has_openvino", "expected"), [
    (["tensorrt", "cuda", "openvino", "cpu"], CPU, True, ("openvino", [])),
    (["tensorrt", "cuda", "openvino", "cpu"], CPU, False, ("onnxruntime", ["CPUExecutionProvider"])),
    (["tensorrt", "cuda", "openvino", "cpu"], GPU, True,
     ("onnxruntime", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])),
    (["openvino", "cuda", "cpu"], GPU, True, ("openvino", [])),
    (["cuda"], CPU, True, ("onnxruntime", ["CPUExecutionProvider"])),  # nothing listed is there: CPU
    (["cpu", "openvino"], CPU, True, ("onnxruntime", ["CPUExecutionProvider"])),
])
def test_the_first_runtime_this_box_has_wins(monkeypatch, preferred, offered, has_openvino, expected) -> None:
    monkeypatch.setattr(runtime, "ort_available", lambda: offered)
    monkeypatch.setattr(runtime, "openvino_available", lambda: has_openvino)
    assert runtime.choose(preferred) == expected


def test_config_takes_openvino_and_per_model_orders() -> None:
    cfg = parse_config({"models": {"providers": ["openvino", "cpu"], "providers_by_model": {"yolox_nano": ["cpu"]}}})
    assert cfg.models.providers == ["openvino", "cpu"] and cfg.models.providers_by_model == {"yolox_nano": ["cpu"]}
    with pytest.raises(ConfigError, match="models.providers.0"):
        parse_config({"models": {"providers": ["openvino-gpu"]}})


@pytest.fixture(scope="module")
def openvino():
    return pytest.importorskip("openvino", reason="OpenVINO is the extra storelens[openvino]")


@pytest.mark.parametrize("model", ["yolox_nano", "reid_0287", "yunet"])
def test_openvino_computes_what_onnxruntime_computes(openvino, models_cfg, model) -> None:
    path = resolve_model(model, models_cfg)
    ort = create_session(path, models_cfg, name=model, providers=["cpu"])
    ov = create_session(path, models_cfg, name=model, providers=["openvino"])
    assert ov.get_providers() == ["OpenVINO CPU"] and ort.get_providers()[0] == "CPUExecutionProvider"
    assert [i.name for i in ov.get_inputs()] == [i.name for i in ort.get_inputs()]
    assert [o.name for o in ov.get_outputs()] == [o.name for o in ort.get_outputs()]
    info = ort.get_inputs()[0]
    x = np.random.default_rng(1).uniform(0, 255, [d if isinstance(d, int) else 1 for d in info.shape]).astype(np.float32)
    for want, got in zip(ort.run(None, {info.name: x}), ov.run(None, {info.name: x}), strict=True):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 2e-3 * max(1.0, float(np.max(np.abs(want))))


def test_outputs_come_in_the_order_asked(openvino, models_cfg) -> None:
    session = create_session(resolve_model("yunet", models_cfg), models_cfg, name="yunet", providers=["openvino"])
    names = [o.name for o in session.get_outputs()]
    x = np.zeros([1, 3, 640, 640], np.float32)
    every = session.run(None, {"input": x})
    picked = session.run([names[3], names[0]], {"input": x})
    np.testing.assert_array_equal(picked[0], every[3])
    np.testing.assert_array_equal(picked[1], every[0])


def test_one_session_serves_several_camera_threads(openvino, models_cfg) -> None:
    session = create_session(resolve_model("reid_0287", models_cfg), models_cfg, name="reid_0287",
                             providers=["openvino"])
    name = session.get_inputs()[0].name
    inputs = [np.full((1, 256, 128, 3), v, np.float32) for v in (10.0, 120.0, 240.0)]
    expected = [session.run(None, {name: x})[0] for x in inputs]
    results: dict[tuple[int, int], np.ndarray] = {}

    def work(t: int) -> None:
        for i in range(6):
            results[(t, i)] = session.run(None, {name: inputs[(t + i) % 3]})[0]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for (t, i), out in results.items():
        np.testing.assert_allclose(out, expected[(t + i) % 3], rtol=1e-5, atol=1e-5)


def test_the_per_model_order_picks_the_runtime(openvino, models_cfg) -> None:
    cfg = models_cfg.model_copy(update={"providers": ["openvino", "cpu"], "providers_by_model": {"yolox_nano": ["cpu"]}})
    assert create_session(resolve_model("yolox_nano", cfg), cfg, name="yolox_nano").get_providers()[0] == "CPUExecutionProvider"
    assert create_session(resolve_model("reid_0287", cfg), cfg, name="reid_0287").get_providers() == ["OpenVINO CPU"]


def test_bench_providers_times_every_runtime_and_checks_their_outputs(models_cfg) -> None:
    from devkit.bench.providers import bench_providers

    rows = list(bench_providers(models_cfg, ["yunet", "no_such_model"], repeat=3, warmup=1))
    by_runtime = {r.runtime: r for r in rows if r.model == "yunet"}
    assert {"onnxruntime cpu", "opencv dnn cpu"} <= set(by_runtime)
    reference = by_runtime.pop("onnxruntime cpu")
    assert reference.max_rel_diff is None and reference.speedup == 1.0 and reference.median_ms > 0
    for row in by_runtime.values():  # the same network computes the same numbers on every f32 runtime
        assert row.max_rel_diff < (0.3 if row.runtime.endswith("bf16") else 1e-3), row
        assert row.median_ms > 0 and row.speedup > 0
    assert rows[-1].model == "no_such_model" and rows[-1].note.startswith("skipped: unknown model")

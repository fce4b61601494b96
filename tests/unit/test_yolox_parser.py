"""The YOLOX nvinfer parser (C++) decodes like the CPU path's YoloxPersonDetector, without DeepStream.

The parser is built by its Makefile against a stand-in for DeepStream's header, fed YOLOX-nano's real
output tensor from ONNX Runtime on real photos, and its boxes go through what nvinfer does next
(NMS per class, scaling back to the frame, cropping to it, the minimum height), with the thresholds
read from config_infer_person_yolox.txt. They must equal the CPU detector's boxes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.detect.persons import YoloxPersonDetector
from edge_agent.models import create_session, get_spec, resolve_model
from storelens.config.detect import YoloxConfig
from tests.unit.deepstream_parsers import PARSERS_DIR, build_parser_library, link_driver

pytestmark = [pytest.mark.vision, pytest.mark.slow]

CONFIG = "config_infer_person_yolox.txt"  # rendered from the config tree (hardware/nvinfer_config.py)
NET = 416  # network input (infer-dims, YoloxConfig.input_size; checked below)
PHOTOS = ["group1_walking.jpg", "market1501_frame_c1s1_001051.jpg", "market1501_frame_c3s1_000501.jpg",
          "mot16_08_preview_input.jpg", "pets2009_vtest_frame100.jpg"]

# parse FILE NET_W NET_H CLASSES THRESHOLD ROWS COLS [NAME [half]]; FILE "-" passes no output layer.
DRIVER = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>
#include "nvdsinfer_custom_impl.h"
extern "C" bool NvDsInferParseYolox(std::vector<NvDsInferLayerInfo> const&, NvDsInferNetworkInfo const&,
                                    NvDsInferParseDetectionParams const&, std::vector<NvDsInferObjectDetectionInfo>&);
int main(int argc, char** argv) {
  if (argc < 8) return 2;
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> data(bytes.size() / 4);
  std::memcpy(data.data(), bytes.data(), bytes.size());
  NvDsInferLayerInfo layer{};
  layer.dataType = argc > 9 ? HALF : FLOAT;
  layer.inferDims.numDims = 2;
  layer.inferDims.d[0] = std::atoi(argv[6]);
  layer.inferDims.d[1] = std::atoi(argv[7]);
  layer.inferDims.numElements = layer.inferDims.d[0] * layer.inferDims.d[1];
  layer.layerName = argc > 8 ? argv[8] : "output";
  layer.buffer = data.data();
  std::vector<NvDsInferLayerInfo> layers;
  if (std::strcmp(argv[1], "-") != 0) layers.push_back(layer);
  NvDsInferNetworkInfo net{(unsigned)std::atoi(argv[2]), (unsigned)std::atoi(argv[3]), 3};
  const unsigned classes = std::atoi(argv[4]);
  NvDsInferParseDetectionParams params{classes, std::vector<float>(classes, std::atof(argv[5])), {}};
  std::vector<NvDsInferObjectDetectionInfo> boxes;
  if (!NvDsInferParseYolox(layers, net, params, boxes)) return 3;
  for (auto& b : boxes) std::printf("%u %f %f %f %f %f\n", b.classId, b.left, b.top, b.width, b.height, b.detectionConfidence);
  return 0;
}
"""


@pytest.fixture(scope="module")
def parser_binary(tmp_path_factory):
    build = tmp_path_factory.mktemp("yolox_parser")
    return link_driver(DRIVER, build_parser_library("libnvds_yolox_parser.so", build), build, "parse_yolox")


@pytest.fixture(scope="module")
def detector(models_cfg):
    # nvinfer letterboxes into the engine's fixed 416x416 square: compare with the CPU path's square mode
    return YoloxPersonDetector(create_session(resolve_model("yolox_nano", models_cfg), models_cfg, name="yolox"),
                               YoloxConfig(keep_aspect=False))


def _nvinfer_config() -> dict[str, dict[str, str]]:
    from hardware.nvinfer_config import read_infer_config, render_configs
    from storelens.config import StorelensConfig

    parsed = read_infer_config(render_configs(StorelensConfig())[CONFIG])
    return {name: parsed[name] for name in ("property", "class-attrs-all")}


def _run_parser(binary: Path, tensor: np.ndarray, tmp_path: Path, classes: int, threshold: float,
                size: int = NET) -> np.ndarray:
    """(N, 6) rows class, left, top, width, height, score in network pixels."""
    tensor.astype(np.float32).tofile(tmp_path / "output.f32")
    args = [str(binary), str(tmp_path / "output.f32"), str(size), str(size), str(classes), str(threshold),
            *map(str, tensor.shape[-2:])]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split()] for line in out.splitlines()]).reshape(-1, 6)


def _as_nvinfer(rows: np.ndarray, frame_shape: tuple[int, ...], attrs: dict[str, str]) -> np.ndarray:
    """What nvinfer 7.x does after the parser (cluster-mode=2, maintain-aspect-ratio, symmetric-padding=0,
    detected-min-h, crop-objects-to-roi-boundary; gstnvinfer_meta_utils.cpp): per-class NMS and top-k in
    network pixels, divide by the letterbox scale, move a negative left/top to 0 without shrinking the
    box, drop short boxes, crop right/bottom to the frame. Returns frame xyxy."""
    keep = cv2.dnn.NMSBoxes(rows[:, 1:5].tolist(), rows[:, 5].tolist(), float(attrs["pre-cluster-threshold"]),
                            float(attrs["nms-iou-threshold"]), top_k=int(attrs["topk"]))
    h, w = frame_shape[:2]
    xywh = rows[np.asarray(keep, np.int64).reshape(-1), 1:5] / min(NET / h, NET / w)
    xywh[:, :2] = np.maximum(xywh[:, :2], 0)
    xywh = xywh[xywh[:, 3] >= float(attrs["detected-min-h"])]
    right_bottom = np.minimum(xywh[:, :2] + xywh[:, 2:], [w, h])
    return np.concatenate([xywh[:, :2], right_bottom], axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a, area_b = np.prod(a[:, 2:] - a[:, :2], axis=1), np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _cpu_output(detector: YoloxPersonDetector, frame: np.ndarray) -> np.ndarray:
    """YOLOX's raw [1, 3549, 85] output on the CPU path's own letterboxed input."""
    blob, _ = detector._letterbox(frame)
    return detector._session.run(None, {detector._input: blob})[0]


@pytest.mark.parametrize("photo", PHOTOS)
def test_parser_boxes_match_the_cpu_yolox_detector(parser_binary, detector, tmp_path, media_dir, photo):
    frame = cv2.imread(str(media_dir / "persons" / photo))
    attrs = _nvinfer_config()["class-attrs-all"]
    output = _cpu_output(detector, frame)
    rows = _run_parser(parser_binary, output, tmp_path, classes=1, threshold=float(attrs["pre-cluster-threshold"]))
    ours, theirs = _as_nvinfer(rows, frame.shape, attrs), detector(frame).xyxy
    assert len(ours) == len(theirs) >= 2, (len(ours), len(theirs))
    iou = _iou(theirs, ours)
    assert (iou.max(axis=1) > 0.95).all() and (iou.max(axis=0) > 0.95).all(), iou.max(axis=1)


def test_all_classes_mode_adds_classes_and_keeps_persons_identical(parser_binary, detector, tmp_path, media_dir):
    frame = cv2.imread(str(media_dir / "persons" / PHOTOS[0]))
    output = _cpu_output(detector, frame)
    persons = _run_parser(parser_binary, output, tmp_path, classes=1, threshold=0.2)
    coco = _run_parser(parser_binary, output, tmp_path, classes=80, threshold=0.2)
    np.testing.assert_allclose(coco[coco[:, 0] == 0], persons)
    scores = output[0, :, 4:5] * output[0, :, 5:]  # every (cell, class) at or above the threshold is a box
    assert len(coco) == int((scores >= 0.2).sum()) > len(persons)
    assert set(np.unique(coco[:, 0]).astype(int)) == set(np.nonzero((scores >= 0.2).any(axis=0))[0])


def test_black_letterbox_padding_of_nvinfer_finds_the_same_people(parser_binary, detector, tmp_path, media_dir):
    """nvinfer pads with 0 where YOLOX was trained with 114: the same people, boxes a little different."""
    attrs = _nvinfer_config()["class-attrs-all"]
    for photo in PHOTOS:
        frame = cv2.imread(str(media_dir / "persons" / photo))
        blob, scale = detector._letterbox(frame)
        h, w = int(frame.shape[0] * scale), int(frame.shape[1] * scale)
        blob[..., h:, :], blob[..., :, w:] = 0, 0
        output = detector._session.run(None, {detector._input: blob})[0]
        rows = _run_parser(parser_binary, output, tmp_path, classes=1, threshold=float(attrs["pre-cluster-threshold"]))
        ours, theirs = _as_nvinfer(rows, frame.shape, attrs), detector(frame).xyxy
        assert len(ours) == len(theirs), photo
        assert _iou(theirs, ours).max(axis=1).min() > 0.9, photo  # measured: >= 0.915 on these photos


# (cell row index, cx/cy offsets, log w/h, objectness, person score) -> expected (left, top, width, height)
# in a 416x416 input; rows 0..2703 are stride 8 (52x52), ..2379 stride 16, ..3548 stride 32.
CELLS = [
    pytest.param(5 * 52 + 10, (0.5, 0.5), (np.log(4), np.log(8)), 0.9, 0.8, (68, 12, 32, 64), id="stride8"),
    pytest.param(0, (0.0, 0.0), (np.log(2), np.log(2)), 0.9, 0.9, (0, 0, 8, 8), id="left-top-clipped"),
    pytest.param(3548, (0.9, 0.9), (0.0, 0.0), 0.9, 0.9, (396.8, 396.8, 19.2, 19.2), id="stride32-right-bottom"),
    pytest.param(2704 + 3 * 26 + 2, (0.0, 0.5), (0.0, np.log(3)), 0.9, 0.9, (24, 32, 16, 48), id="stride16"),
    pytest.param(100, (0.5, 0.5), (0.0, 0.0), 0.5, 0.5, None, id="below-threshold"),
]


@pytest.mark.parametrize(("row", "offset", "log_size", "obj", "person", "expected"), CELLS)
def test_parser_decodes_hand_built_cells(parser_binary, tmp_path, row, offset, log_size, obj, person, expected):
    tensor = np.zeros((3549, 85), np.float32)
    tensor[row, :5] = [*offset, *log_size, obj]
    tensor[row, 5] = person
    tensor[row, 6] = 1.0  # another class scoring high must not leak into persons-only mode
    rows = _run_parser(parser_binary, tensor, tmp_path, classes=1, threshold=0.35)
    if expected is None:
        assert len(rows) == 0
    else:
        assert len(rows) == 1 and rows[0, 0] == 0
        np.testing.assert_allclose(rows[0, 1:], [*expected, obj * person], atol=1e-3)


@pytest.mark.parametrize(("args", "message"), [
    (["-", "416", "416", "1", "0.35", "3549", "85"], "expected one output layer (or one named 'output'), got 0"),
    (["{f}", "320", "320", "1", "0.35", "3549", "85"],
     "output 'output' has 301665 values of 85 per row, expected 2100 rows for a 320x320 input"),
    (["{f}", "416", "416", "1", "0.35", "3549", "85", "output", "half"], "output 'output' must be float"),
])
def test_parser_refuses_a_mismatched_engine_in_one_line(parser_binary, tmp_path, args, message):
    np.zeros((3549, 85), np.float32).tofile(tmp_path / "output.f32")
    argv = [a.format(f=tmp_path / "output.f32") for a in args]
    result = subprocess.run([str(parser_binary), *argv], capture_output=True, text=True)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"NvDsInferParseYolox: {message}" in result.stderr


def test_nvinfer_config_matches_the_cpu_preprocessing_and_the_parser(detector, media_dir):
    prop, attrs = _nvinfer_config().values()
    cfg = YoloxConfig()
    frame = cv2.imread(str(media_dir / "persons" / PHOTOS[0]))
    blob, scale = detector._letterbox(frame)
    resized = cv2.resize(frame, (int(frame.shape[1] * scale), int(frame.shape[0] * scale)))
    # the CPU path feeds BGR 0..255 unnormalised, frame at top-left: nvinfer's 1.0*(x-0), BGR, right/bottom pad
    np.testing.assert_array_equal(blob[0].transpose(1, 2, 0)[: resized.shape[0], : resized.shape[1]], resized)
    assert (float(prop["net-scale-factor"]), prop["offsets"], prop["model-color-format"]) == (1.0, "0;0;0", "1")
    assert (prop["maintain-aspect-ratio"], prop["symmetric-padding"]) == ("1", "0")
    assert prop["infer-dims"] == f"3;{NET};{NET}" and cfg.input_size == NET
    assert (float(attrs["pre-cluster-threshold"]), float(attrs["nms-iou-threshold"])) == (cfg.score_threshold,
                                                                                          cfg.nms_threshold)
    assert float(attrs["detected-min-h"]) == cfg.min_height_px
    assert (prop["cluster-mode"], prop["num-detected-classes"], prop["crop-objects-to-roi-boundary"]) == ("2", "1", "1")
    assert prop["parse-bbox-func-name"] == "NvDsInferParseYolox"
    assert "NvDsInferParseYolox" in (PARSERS_DIR / "nvdsparsebbox_yolox.cpp").read_text()
    assert Path(prop["custom-lib-path"]).parent == PARSERS_DIR
    assert "libnvds_yolox_parser.so: nvdsparsebbox_yolox.cpp" in (PARSERS_DIR / "Makefile").read_text()
    assert Path(prop["onnx-file"]).name == get_spec(cfg.model).file

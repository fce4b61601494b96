"""The YuNet nvinfer parser (C++) decodes like cv2.FaceDetectorYN, checked without DeepStream.

The parser is built by its Makefile against a minimal stand-in for DeepStream's nvdsinfer headers
(same struct layout for the fields it uses; tests/unit/deepstream_parsers.py), fed YuNet's real
output tensors from ONNX Runtime on a real photo, and its boxes (after the NMS nvinfer would do)
are compared with OpenCV's detector.
"""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edge_agent.models import resolve_model
from tests.unit.deepstream_parsers import build_parser_library, link_driver

pytestmark = [pytest.mark.vision, pytest.mark.slow]

DRIVER = r"""
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "nvdsinfer_custom_impl.h"
extern "C" bool NvDsInferParseYuNet(std::vector<NvDsInferLayerInfo> const&, NvDsInferNetworkInfo const&,
                                    NvDsInferParseDetectionParams const&, std::vector<NvDsInferObjectDetectionInfo>&);
int main(int argc, char** argv) {
  std::vector<std::string> names;
  std::vector<std::vector<float>> data;
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(std::string(argv[1]) + "/" + argv[i] + ".f32", std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    data.emplace_back(bytes.size() / 4);
    std::memcpy(data.back().data(), bytes.data(), bytes.size());
    names.push_back(argv[i]);
  }
  std::vector<NvDsInferLayerInfo> layers(names.size());
  for (size_t i = 0; i < names.size(); ++i) { layers[i].layerName = names[i].c_str(); layers[i].buffer = data[i].data(); }
  NvDsInferNetworkInfo net{640, 640, 3};
  NvDsInferParseDetectionParams params{1, {0.6f}, {0.6f}};
  std::vector<NvDsInferObjectDetectionInfo> faces;
  if (!NvDsInferParseYuNet(layers, net, params, faces)) return 3;
  for (auto& f : faces) std::printf("%f %f %f %f %f\n", f.left, f.top, f.width, f.height, f.detectionConfidence);
  return 0;
}
"""


@pytest.fixture(scope="module")
def parser_binary(tmp_path_factory):
    build = tmp_path_factory.mktemp("parser")
    return link_driver(DRIVER, build_parser_library("libnvds_yunet_parser.so", build), build, "parse")


def _letterbox(image: np.ndarray) -> np.ndarray:
    canvas = np.zeros((640, 640, 3), np.uint8)
    scale = 640 / max(image.shape[:2])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    canvas[: small.shape[0], : small.shape[1]] = small
    return canvas


def _iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("photo", ["t1.jpg", "astronaut.png"])
def test_parser_boxes_match_opencv_facedetectoryn(parser_binary, tmp_path, media_dir, models_cfg, photo):
    image = _letterbox(cv2.imread(str(media_dir / "faces" / photo)))
    model = resolve_model("yunet", models_cfg)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    blob = image.transpose(2, 0, 1)[None].astype(np.float32)  # BGR 0..255, as nvinfer is configured
    names = [o.name for o in session.get_outputs()]
    for name, value in zip(names, session.run(None, {session.get_inputs()[0].name: blob}), strict=True):
        value.astype(np.float32).tofile(tmp_path / f"{name}.f32")
    out = subprocess.run([str(parser_binary), str(tmp_path), *names], capture_output=True, text=True, check=True).stdout
    rows = np.array([[float(v) for v in line.split()] for line in out.splitlines()]).reshape(-1, 5)
    keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 4].tolist(), 0.6, 0.3)  # nvinfer's cluster-mode=2
    ours = [(x, y, x + w, y + h) for x, y, w, h, _ in rows[np.asarray(keep).reshape(-1)]]
    detector = cv2.FaceDetectorYN.create(str(model), "", (640, 640), 0.6, 0.3, 5000)
    _, ref = detector.detect(image)
    theirs = [(x, y, x + w, y + h) for x, y, w, h in ref[:, :4]]
    assert len(ours) == len(theirs) >= 1
    for box in theirs:
        assert max(_iou(box, mine) for mine in ours) > 0.95


def test_parser_reports_missing_heads(parser_binary, tmp_path):
    result = subprocess.run([str(parser_binary), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 3 and "NvDsInferParseYuNet: output cls_8/obj_8/bbox_8 missing" in result.stderr

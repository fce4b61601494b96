// nvinfer custom bounding-box parser for YOLOX (yolox_nano_416x416.onnx, Apache-2.0).
//
// YOLOX has one output, [1, A, 5 + C] with A = sum over strides 8/16/32 of (W/s)*(H/s) grid cells
// (3549 at 416x416) in row-major order per stride, and per cell: centre offsets (2), log size (2),
// objectness and C class scores (sigmoid already applied in the exported graph). The decoding is the
// one of the CPU path (edge_agent/detect/persons.py, YoloxPersonDetector):
//   centre = (cell + out[0:2]) * stride,  size = exp(out[2:4]) * stride,  score = obj * cls[c].
// Boxes are in network-input pixels; nvinfer maps them back to the frame. That is only right if the
// frame sits at the top-left of the input as in YOLOX's letterbox: maintain-aspect-ratio=1 with
// symmetric-padding=0 (config_infer_person_yolox.txt).
//
// Classes: the first num-detected-classes of the tensor's C are decoded (each class scored on its own,
// as the CPU path scores person), so num-detected-classes=1 decodes persons only and 80 all of COCO.
// nvinfer clusters the boxes afterwards (cluster-mode=2, NMS per class).
//
// Build on the Jetson: make -C hardware/deepstream/parsers  (-> libnvds_yolox_parser.so)
// The decoding is checked on x86 against YoloxPersonDetector by tests/unit/test_yolox_parser.py.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nvdsinfer_custom_impl.h"

namespace {

const int kStrides[] = {8, 16, 32};
const unsigned int kBoxFields = 5;  // cx, cy, log w, log h, objectness; class scores follow
const float kDefaultThreshold = 0.35f;  // YoloxConfig.score_threshold, used if the config gives none

// The single output; by name "output" (the exported graph's) when the engine has more than one.
const NvDsInferLayerInfo* findOutput(const std::vector<NvDsInferLayerInfo>& layers) {
  if (layers.size() == 1) return &layers[0];
  for (const auto& layer : layers) {
    if (layer.layerName != nullptr && std::strcmp(layer.layerName, "output") == 0) return &layer;
  }
  return nullptr;
}

unsigned int expectedAnchors(const NvDsInferNetworkInfo& net) {
  unsigned int anchors = 0;
  for (int stride : kStrides) anchors += (net.width / stride) * (net.height / stride);
  return anchors;
}

// Rows of the output (anchors) and values per row, or false with one line on stderr: a wrong engine
// or input size must not be decoded into plausible-looking garbage.
bool checkLayout(const NvDsInferLayerInfo& layer, const NvDsInferNetworkInfo& net, unsigned int& channels) {
  const NvDsInferDims& dims = layer.inferDims;
  const char* name = layer.layerName != nullptr ? layer.layerName : "?";
  if (layer.dataType != FLOAT || dims.numDims == 0) {
    std::fprintf(stderr, "NvDsInferParseYolox: output '%s' must be float with known dims\n", name);
    return false;
  }
  channels = dims.d[dims.numDims - 1];
  const unsigned int anchors = expectedAnchors(net);
  if (channels <= kBoxFields || dims.numElements != anchors * channels) {
    std::fprintf(stderr,
                 "NvDsInferParseYolox: output '%s' has %u values of %u per row, expected %u rows for a %ux%u "
                 "input (strides 8/16/32)\n",
                 name, dims.numElements, channels, anchors, net.width, net.height);
    return false;
  }
  return true;
}

float thresholdFor(const NvDsInferParseDetectionParams& params, unsigned int classId) {
  const std::vector<float>& t = params.perClassPreclusterThreshold;
  if (classId < t.size()) return t[classId];
  return t.empty() ? kDefaultThreshold : t[0];
}

// One box, clipped to the input at left/top: nvinfer drops a box that starts above the frame
// (DeepStream 6.x) or moves it down without shrinking it (7.x), and a person cut by the frame edge is
// still a person. Right/bottom overhang past the picture is cropped by crop-objects-to-roi-boundary.
void appendBox(float cx, float cy, float w, float h, unsigned int classId, float score,
               const NvDsInferNetworkInfo& net, std::vector<NvDsInferObjectDetectionInfo>& out) {
  NvDsInferObjectDetectionInfo box{};
  box.classId = classId;
  box.detectionConfidence = score;
  box.left = std::max(0.0f, cx - w / 2);
  box.top = std::max(0.0f, cy - h / 2);
  box.width = std::min(static_cast<float>(net.width), cx + w / 2) - box.left;
  box.height = std::min(static_cast<float>(net.height), cy + h / 2) - box.top;
  if (box.width > 0 && box.height > 0) out.push_back(box);
}

// Appends every (cell, class) of one stride scoring above its class threshold; returns the next row.
const float* decodeStride(const float* row, unsigned int channels, unsigned int classes, int stride,
                          const NvDsInferNetworkInfo& net, const NvDsInferParseDetectionParams& params,
                          std::vector<NvDsInferObjectDetectionInfo>& out) {
  const unsigned int cols = net.width / stride, rows = net.height / stride;
  for (unsigned int idx = 0; idx < rows * cols; ++idx, row += channels) {
    for (unsigned int c = 0; c < classes; ++c) {
      const float score = row[4] * row[kBoxFields + c];
      if (score < thresholdFor(params, c)) continue;
      const float cx = (static_cast<float>(idx % cols) + row[0]) * stride;
      const float cy = (static_cast<float>(idx / cols) + row[1]) * stride;
      appendBox(cx, cy, std::exp(row[2]) * stride, std::exp(row[3]) * stride, c, score, net, out);
    }
  }
  return row;
}

}  // namespace

extern "C" bool NvDsInferParseYolox(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
                                    NvDsInferNetworkInfo const& networkInfo,
                                    NvDsInferParseDetectionParams const& detectionParams,
                                    std::vector<NvDsInferObjectDetectionInfo>& objectList) {
  const NvDsInferLayerInfo* layer = findOutput(outputLayersInfo);
  if (layer == nullptr) {
    std::fprintf(stderr, "NvDsInferParseYolox: expected one output layer (or one named 'output'), got %zu\n",
                 outputLayersInfo.size());
    return false;
  }
  unsigned int channels = 0;
  if (!checkLayout(*layer, networkInfo, channels)) return false;
  const unsigned int classes = std::min(std::max(detectionParams.numClassesConfigured, 1u), channels - kBoxFields);
  const float* row = static_cast<const float*>(layer->buffer);
  for (int stride : kStrides) {
    row = decodeStride(row, channels, classes, stride, networkInfo, detectionParams, objectList);
  }
  return true;
}

CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseYolox);

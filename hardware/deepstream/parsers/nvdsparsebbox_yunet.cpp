// nvinfer custom bounding-box parser for YuNet (face_detection_yunet_2023mar, 640x640).
//
// YuNet has 12 output heads: cls_{8,16,32} (N,1), obj_{8,16,32} (N,1), bbox_{8,16,32} (N,4),
// kps_{8,16,32} (N,10), one row per anchor-free grid cell of stride 8/16/32. The decoding is the
// one in OpenCV's FaceDetectorYN (modules/objdetect/src/face_detect.cpp):
//   score = sqrt(clamp(cls) * clamp(obj)),  centre = (cell + bbox[0:2]) * stride,
//   size = exp(bbox[2:4]) * stride.
// nvinfer clusters the boxes afterwards (cluster-mode=2, NMS). nvinfer's detection output has no
// landmark field, so the five keypoints are not passed on.
//
// Build on the Jetson: make -C hardware/deepstream/parsers  (-> libnvds_yunet_parser.so)
// The decoding is checked on x86 against cv2.FaceDetectorYN by tests/unit/test_probe_adapter_parser.py.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nvdsinfer_custom_impl.h"

namespace {

const NvDsInferLayerInfo* findLayer(const std::vector<NvDsInferLayerInfo>& layers, const char* name) {
  for (const auto& layer : layers) {
    if (layer.layerName != nullptr && std::strcmp(layer.layerName, name) == 0) return &layer;
  }
  return nullptr;
}

float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

// Appends the faces of one stride above `threshold`; false if a head is missing.
bool decodeStride(const std::vector<NvDsInferLayerInfo>& layers, const NvDsInferNetworkInfo& net, int stride,
                  float threshold, std::vector<NvDsInferObjectDetectionInfo>& out) {
  char cls_name[16], obj_name[16], box_name[16];
  std::snprintf(cls_name, sizeof cls_name, "cls_%d", stride);
  std::snprintf(obj_name, sizeof obj_name, "obj_%d", stride);
  std::snprintf(box_name, sizeof box_name, "bbox_%d", stride);
  const NvDsInferLayerInfo* cls = findLayer(layers, cls_name);
  const NvDsInferLayerInfo* obj = findLayer(layers, obj_name);
  const NvDsInferLayerInfo* box = findLayer(layers, box_name);
  if (cls == nullptr || obj == nullptr || box == nullptr) {
    std::fprintf(stderr, "NvDsInferParseYuNet: output %s/%s/%s missing\n", cls_name, obj_name, box_name);
    return false;
  }
  const float* cls_v = static_cast<const float*>(cls->buffer);
  const float* obj_v = static_cast<const float*>(obj->buffer);
  const float* box_v = static_cast<const float*>(box->buffer);
  const int cols = static_cast<int>(net.width) / stride;
  const int rows = static_cast<int>(net.height) / stride;
  const float width = static_cast<float>(net.width), height = static_cast<float>(net.height);
  for (int idx = 0; idx < rows * cols; ++idx) {
    const float score = std::sqrt(clamp01(cls_v[idx]) * clamp01(obj_v[idx]));
    if (score < threshold) continue;
    const float* b = box_v + 4 * idx;
    const float cx = (static_cast<float>(idx % cols) + b[0]) * stride;
    const float cy = (static_cast<float>(idx / cols) + b[1]) * stride;
    const float w = std::exp(b[2]) * stride, h = std::exp(b[3]) * stride;
    NvDsInferObjectDetectionInfo face{};
    face.classId = 0;
    face.detectionConfidence = score;
    face.left = std::max(0.0f, cx - w / 2);
    face.top = std::max(0.0f, cy - h / 2);
    face.width = std::min(width, cx + w / 2) - face.left;
    face.height = std::min(height, cy + h / 2) - face.top;
    if (face.width > 0 && face.height > 0) out.push_back(face);
  }
  return true;
}

}  // namespace

extern "C" bool NvDsInferParseYuNet(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
                                    NvDsInferNetworkInfo const& networkInfo,
                                    NvDsInferParseDetectionParams const& detectionParams,
                                    std::vector<NvDsInferObjectDetectionInfo>& objectList) {
  const float threshold =
      detectionParams.perClassPreclusterThreshold.empty() ? 0.6f : detectionParams.perClassPreclusterThreshold[0];
  for (int stride : {8, 16, 32}) {
    if (!decodeStride(outputLayersInfo, networkInfo, stride, threshold, objectList)) return false;
  }
  return true;
}

CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseYuNet);

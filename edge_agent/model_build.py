"""Models that `storelens models pull` builds from verified upstream files, and their build receipts.

Some upstream models do not ship as ONNX (face-api.js AgeGenderNet is TensorFlow.js weights). Pull
fetches the upstream files (each checked against its sha256 in the manifest), converts them, runs
the converter's checks, and only then installs the ONNX file beside a receipt
(`<file>.receipt.json`) that records the built file's sha256 and the sha256 of every source. Each
later load checks the file against that receipt, so a built model is checked against its sha256
before use like every other model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from storelens.errors import ModelError
from storelens.paths import shared_dir

log = logging.getLogger(__name__)

RECEIPT_SUFFIX = ".receipt.json"

# sources (in manifest order), output path, upstream test media dir or None -> names of the checks run.
# Raises ModelError naming what failed.
Builder = Callable[[Sequence[Path], Path, Path | None], list[str]]


@dataclass(frozen=True)
class Receipt:
    sha256: str  # of the built file
    sources: dict[str, str]  # source file name -> its sha256 when built
    checks: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"sha256": self.sha256, "sources": self.sources, "checks": list(self.checks)}, indent=1)


def receipt_path(model_file: Path) -> Path:
    return model_file.with_name(model_file.name + RECEIPT_SUFFIX)


def read_receipt(model_file: Path) -> Receipt | None:
    """The receipt beside `model_file`, or None when it is missing or unreadable."""
    try:
        raw = json.loads(receipt_path(model_file).read_text())
        return Receipt(str(raw["sha256"]), {str(k): str(v) for k, v in raw["sources"].items()},
                       tuple(str(c) for c in raw.get("checks", ())))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def upstream_test_media(mirror: str | None, subdir: str) -> Path | None:
    """`media/<subdir>` beside a local mirror (`../shared/models` -> `../shared/media`), else beside
    the checkout; None on a user's machine, where the builders' built-in checks still run."""
    candidates = []
    if mirror and "://" not in mirror:
        candidates.append(Path(mirror).parent / "media" / subdir)
    shared = shared_dir()
    if shared is not None:
        candidates.append(shared / "media" / subdir)
    return next((c for c in candidates if c.is_dir()), None)


def build_faceapi_age(sources: Sequence[Path], out: Path, test_media: Path | None) -> list[str]:
    """face-api.js AgeGenderNet: TF.js manifest + shard -> ONNX, then the recorded reference outputs
    and, where the images are at hand, face-api.js's own test expectations."""
    from edge_agent.attributes.faceapi_convert import (
        convert,
        verify_against_upstream_expectations,
        verify_reference_outputs,
    )

    manifest, shard = sources[0], sources[1]  # then the licence notice, installed beside them
    try:
        convert(manifest, shard, out)
    except ValueError as exc:
        raise ModelError(f"model 'faceapi_age': cannot convert {shard.name}: {exc}") from None
    problems, checks = verify_reference_outputs(out), ["reference outputs of a verified build"]
    if test_media is not None:
        problems += verify_against_upstream_expectations(out, test_media)
        checks.append(f"face-api.js test expectations on {test_media}")
    else:
        log.info("faceapi_age: face-api.js test images not found; checked against the reference outputs only")
    if problems:
        raise ModelError(f"model 'faceapi_age' built from {shard.name} fails its checks: {'; '.join(problems)}")
    return checks


BUILDERS: dict[str, tuple[Builder, str]] = {
    # builder name in the manifest -> (function, test media subdir it can use)
    "faceapi_age_gender": (build_faceapi_age, "faceapi_test"),
}

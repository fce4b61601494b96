"""What a technician should do about a camera, from its devices-table row.

Face advice is the very text `storelens camera check` prints: storelens.facehealth.advice on a
FaceSummary built from the heartbeat's face numbers (sharpness and face position are not in the
heartbeat, so those two rules stay silent here), translated sentence by sentence through the
catalog. Device-level problems (offline, no frames, sync overdue) get their own advice first,
since face numbers from a camera that sends nothing are stale.
"""

from __future__ import annotations

from dashboard import i18n
from dashboard.i18n import N_, _
from dashboard.problems import is_missing
from storelens.config.attributes import QualityGateConfig
from storelens.facehealth import BACKLIT_FACES, SMALL_FACES, FaceSummary, advice

OFFLINE, NO_FRAMES, SYNC_OVERDUE = "offline", "no frames", "sync overdue"
PROBLEM_NAMES = {OFFLINE: N_("offline"), NO_FRAMES: N_("no frames"), SYNC_OVERDUE: N_("sync overdue"),
                 BACKLIT_FACES: N_("backlit faces"), SMALL_FACES: N_("faces too small")}


# storelens.facehealth.advice's sentences with each number written {} (i18n.numbered puts them back),
# listed here so the catalog carries them; tests/unit/test_i18n_dashboard.py checks every sentence
# the shared rule can produce is among them.
FACE_ADVICE = (
    N_("Hardly any faces seen: point the camera at the door so people walk towards it, mounted {}-{} m high "
       "and tilted down {}-{} degrees; run the check while people pass."),
    N_("Faces are {} stops darker than the background (backlight): enable WDR or backlight compensation "
       "(storelens camera imaging --wdr on), or turn the camera away from the street/window."),
    N_("Faces are {} px, below the {} px needed for age: move the camera closer to the door, zoom in, or use "
       "a higher resolution stream."),
    N_("Faces are blurred: check focus, clean the lens, and shorten the shutter time (motion blur at walking "
       "speed)."),
    N_("Faces sit at the top edge of the picture: tilt the camera up or lower it."),
    N_("Faces sit at the bottom edge of the picture: tilt the camera down or raise it."),
    N_("Camera placement looks good for faces and age."),
)


def problem_name(problem: str) -> str:
    """A problem label in the user's language (an edge's own free-text problem stays as sent)."""
    return _(PROBLEM_NAMES[problem]) if problem in PROBLEM_NAMES else problem


def _number(row: dict, key: str) -> float | None:
    value = row.get(key)
    return None if is_missing(value) else float(value)


def face_summary(row: dict) -> FaceSummary:
    """The heartbeat's face numbers as the shared rule reads them; no faces means nothing measured."""
    faces = int(_number(row, "faces_seen") or 0)
    measured = faces > 0
    return FaceSummary(faces_seen=faces,
                       median_face_px=_number(row, "median_face_px") if measured else None,
                       backlight_stops=_number(row, "backlight_score") if measured else None,
                       small_face_fraction=_number(row, "small_face_fraction") if measured else None,
                       median_sharpness=None, median_centre_y=None)


def face_advice(row: dict, quality: QualityGateConfig | None = None) -> list[str]:
    """`storelens camera check`'s advice text for this camera (English, as the CLI prints it)."""
    quality = quality or QualityGateConfig()
    return advice(face_summary(row), min_face_px=quality.min_face_px, good_sharpness=quality.good_sharpness)


def camera_advice(row: dict, problems: list[str], *, sync_overdue_h: float) -> list[str]:
    """Advice in the user's language, most important first."""
    out = []
    if OFFLINE in problems:
        seen = row.get("last_heartbeat")
        out.append(_("No heartbeat since {time}: check the box's power and network, then run "
                     "`storelens sync status` on it.").format(
            time=i18n.timestamp(seen, row.get("timezone") or "UTC") if not is_missing(seen) else _("never")))
    elif NO_FRAMES in problems:
        out.append(_("The camera sends no frames: check its cable or PoE port and the stream URL with "
                     "`storelens camera probe URL`."))
    if SYNC_OVERDUE in problems:
        out.append(_("No visitor data received for more than {hours} h: check the box's upload window and "
                     "broker connection (`storelens sync status`).").format(hours=i18n.decimal(sync_overdue_h, 0)))
    if OFFLINE not in problems and NO_FRAMES not in problems:
        out.extend(i18n.numbered(text) for text in face_advice(row))
    return out

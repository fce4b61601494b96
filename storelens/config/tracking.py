"""Config section: tracker and re-identification."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from storelens.config.base import StrictModel


class TrackingConfig(StrictModel):
    type: Literal["appearance", "bytetrack"] = Field(
        "appearance",
        description="'appearance': ByteTrack association plus a colour gate, a height gate and recovery of lost "
        "tracks (edge_agent/tracking/bytetrack.py), so people who cross keep their own tracks; 'bytetrack': "
        "roboflow's motion-only ByteTrack. Measured by `storelens bench tracking`.",
    )
    track_buffer_frames: int = Field(30, ge=1, description="Frames a lost track is kept before it ends.")
    activation_threshold: float = Field(
        0.7, ge=0, le=1, description="Detection score needed to start a new track (ByteTrack)."
    )
    high_conf_threshold: float = Field(
        0.6, ge=0, le=1, description="Scores at or above this match first; lower ones only extend tracks (ByteTrack)."
    )
    min_consecutive_frames: int = Field(2, ge=1, description="Frames a new track must be matched before it gets an id.")
    min_iou: float = Field(0.1, ge=0, le=1, description="Smallest box overlap that may continue a track.")
    appearance_gate: float = Field(
        0.5, ge=0, le=1,
        description="'appearance' only: a detection whose colours (torso, legs) match a track's less than this "
        "(Bhattacharyya coefficient) cannot continue it. Same person a frame apart: 1st percentile 0.84 on "
        "TUD-Campus ground truth; different people: median 0.60. At 0.3 a third of the long PETS 2009 tracks "
        "still changed colour part-way (one person's track taken over by another), at 0.5 one in eight.",
    )
    appearance_weight: float = Field(
        0.5, ge=0, description="'appearance' only: weight of colour dissimilarity beside (1 - IoU) in the match cost."
    )
    recover_radius: float = Field(
        1.0, gt=0,
        description="'appearance' only: a track lost for a frame or more may be continued by a detection that no "
        "longer overlaps its prediction, if its centre lies within this many of the person's heights of the "
        "predicted centre (and colour and height agree), instead of starting a new fragment.",
    )
    recover_gate: float = Field(
        0.8, ge=0, le=1, description="'appearance' only: colour similarity needed to recover a lost track."
    )
    max_height_ratio: float = Field(
        1.3, ge=1,
        description="'appearance' only: a recovering detection more than this many times taller or shorter than "
        "the lost track's box is someone else (a box spanning two people, a head-only box).",
    )


class ReidConfig(StrictModel):
    enabled: bool = Field(True, description="Compute appearance embeddings to merge re-appearing visitors.")
    model: str = Field("reid_0287", description="Model name from the manifest.")
    ttl_s: float = Field(1800, gt=0, description="Seconds an embedding is kept in RAM (visit-scoped).")
    match_threshold: float = Field(
        0.65, ge=-1, le=1,
        description="Cosine similarity (a new track's mean embedding vs a visitor's best prototype) at or above "
        "which the track is that earlier visitor. Chosen from `storelens bench reid` (reid_0287, BGR): above "
        "every different-people pair measured (TUD-Campus track-level 1%-FPR point 0.585, max 0.62; Market "
        "frames max 0.646) and well below the TUD track-level same-person 5th percentile (0.86). The old 0.7 "
        "only lost true matches.",
    )
    ambiguity_margin: float = Field(
        0.1, ge=0, le=1,
        description="A new track joins its best-matching earlier visitor only if no other visitor comes within "
        "this much cosine similarity of that match; two look-alikes that both match are a new visitor. On the "
        "PETS 2009 sample (many dark jackets) merges of different people gave 15 unique visitors, with 0.1 "
        "18 (issue 9 reports 19 people in its ground truth); TUD-Campus is unchanged.",
    )
    embeddings_to_decide: int = Field(
        3, ge=1,
        description="Usable-crop embeddings a new track collects before it is matched (on their mean); "
        "meanwhile it has no visitor and is counted nowhere.",
    )
    pending_every_frames: int = Field(
        2, ge=1, description="While a new track collects its embeddings, embed it every this many frames."
    )
    decide_within_frames: int = Field(
        25, ge=1,
        description="A new track short of embeddings after this many frames is matched on the ones it has "
        "(none: a new visitor without a vector).",
    )
    embed_every_frames: int = Field(
        # 50: about 4 s at 12 fps. Appearance changes slowly within a visit, and each refresh is a
        # re-ID inference: at 25 re-ID took 3.5 ms a frame on the bench pipeline crowd, at 50 2.4 ms,
        # with the same audit results (storelens bench tracking).
        50, ge=1, description="Refresh a matched track's prototype every this many frames."
    )
    skip_poor_crops: bool = Field(
        True,
        description="Embed only whole people: skip boxes cut by the frame border, more than 30% covered by "
        "another person's box, or not standing-person shaped (height/width 1.6-5). Such crops embed far "
        "from the same person's other views.",
    )
    max_crops_per_frame: int = Field(4, ge=1, description="At most this many person crops embedded per frame.")
    min_crop_height_px: int = Field(48, ge=8, description="Person boxes shorter than this get no embedding.")
    store_level: bool = Field(
        False, description="Share one gallery among all cameras of this device, so a visitor counts once per store."
    )

"""A frame as the pipeline sees it: pixels plus when and where they were taken."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR uint8 (H, W, 3); stays in this process, never written anywhere
    ts: datetime  # aware UTC time the frame was taken
    index: int  # frame number from this source, counting from 0 and continuing across reconnects/loops
    camera_id: str
    gap_s: float = 0.0  # seconds of video lost right before this frame (camera drop); 0 when continuous

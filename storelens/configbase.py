"""Base class for every config section: unknown keys are refused, every field is described."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config section. Subclasses give every field a `description` (a test checks this)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

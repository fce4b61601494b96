"""Base class for every config section: unknown keys are refused, every field is described."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag


class StrictModel(BaseModel):
    """A config section. Subclasses give every field a `description` (a test checks this)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def backend_union(default: str, *members: type[StrictModel]) -> Any:
    """A discriminated union on `type` whose tag defaults to `default` when the key is omitted.

    `faces: {score_threshold: 0.7}` then means the default backend with one field changed, while an
    unknown `type` still fails at load with the key path.
    """

    def tag_of(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get("type", default)
        return getattr(value, "type", None)

    tagged = tuple(Annotated[m, Tag(m.model_fields["type"].default)] for m in members)
    return Annotated[Union[tagged], Discriminator(tag_of)]  # noqa: UP007  (built from a tuple)

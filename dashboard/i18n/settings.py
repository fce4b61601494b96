"""A user's language setting, stored on the user row (User.language; NULL follows the browser)."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from cloud_sync.db.models import User
from storelens.errors import InputError

log = logging.getLogger(__name__)

U = User.__table__.c


def user_language(engine: Engine, username: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(select(U.language).where(U.username == username))


def set_user_language(engine: Engine, username: str, language: str | None) -> None:
    """Save the user's choice; None goes back to the browser's language."""
    from dashboard.i18n import LANGUAGES

    if language is not None and language not in LANGUAGES:
        raise InputError(f"user {username!r}: language {language!r} is not one of {', '.join(LANGUAGES)}")
    with engine.begin() as conn:
        conn.execute(update(User.__table__).where(U.username == username).values(language=language))
    log.info("dashboard user %s: language %s", username, language or "from the browser")

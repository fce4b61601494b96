"""Password rules for dashboard users: what production refuses, with the reason in one line.

Production refuses passwords under 12 characters, the 10,000 most common passwords
(common_passwords.txt, from zxcvbn's list), those same words with digits or symbols stuck on
("Password2024!"), passwords of one or two repeated characters or a keyboard run, and the user's own
name. Development mode keeps the old 8-character minimum so demos and tests stay quick to set up.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from storelens.errors import InputError

PRODUCTION_MIN_LEN = 12
DEVELOPMENT_MIN_LEN = 8
COMMON_FILE = Path(__file__).resolve().parent / "common_passwords.txt"
_DECORATION = re.compile(r"^[\d\W_]*(.*?)[\d\W_]*$")  # digits and symbols around a word
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "01234567890")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower case (read once, on first use)."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def weakness(password: str, username: str, *, production: bool) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    minimum = PRODUCTION_MIN_LEN if production else DEVELOPMENT_MIN_LEN
    if len(password) < minimum:
        return f"password shorter than {minimum} characters"
    if not production:
        return None
    lowered = password.lower()
    core = _DECORATION.match(lowered).group(1)
    common = common_passwords()
    if lowered in common or (len(core) >= 4 and core in common):
        return "password is one of the most common passwords (or one with digits added); choose another"
    if len(set(lowered)) <= 2 or any(lowered in run or lowered in run[::-1] for run in _RUNS):
        return "password is a repeated character or a keyboard run; choose another"
    if username and username.lower() in lowered:
        return "password contains the user name; choose another"
    return None


def check_password(password: str, username: str, *, production: bool) -> None:
    """InputError naming the user when the password is refused."""
    reason = weakness(password, username, production=production)
    if reason is not None:
        raise InputError(f"user {username!r}: {reason}")

"""User-facing errors: one readable line that names what failed and where, and a distinct exit code.

Exit codes (documented in the README; scripts and systemd rely on them):
  0  success
  1  the job ran but failed (for example some images could not be read, a camera never opened)
  2  usage: unknown command or option (argparse)
  3  bad configuration: a config file missing, unreadable or invalid
  4  bad input: an image, video, camera, ground-truth or import file that cannot be read
  5  model missing, corrupt, or not matching its manifest checksum
  6  a dependency is unavailable: Redis, the broker, the database, or a Python extra not installed
  130 interrupted (Ctrl-C)
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_MODEL = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130


class StorelensError(Exception):
    """An error the CLI prints as a single line (no traceback) and exits non-zero on."""

    exit_code = EXIT_FAILED


class UsageError(StorelensError):
    """A command was given arguments that do not go together (argparse handles the rest)."""

    exit_code = EXIT_USAGE


class ConfigError(StorelensError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = EXIT_CONFIG


class InputError(StorelensError):
    """An input (image, video, camera, payload, import file) cannot be read or decoded."""

    exit_code = EXIT_INPUT


class ModelError(StorelensError):
    """A model file is missing, corrupt or does not match its manifest checksum."""

    exit_code = EXIT_MODEL


class UnavailableError(StorelensError):
    """Something the command needs is not there: a server, a database, or an optional extra."""

    exit_code = EXIT_UNAVAILABLE


def missing_extra(extra: str, what: str, exc: ImportError) -> UnavailableError:
    """The one-line message for a tool whose Python extra is not installed."""
    return UnavailableError(f"{what} needs the '{extra}' extra ({exc.name or exc} is not installed): "
                            f"pip install 'storelens[{extra}]'")

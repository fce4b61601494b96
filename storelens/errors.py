"""User-facing errors: one readable line that names what failed and where."""


class StorelensError(Exception):
    """An error the CLI prints as a single line (no traceback) and exits non-zero on."""

    exit_code = 2


class ConfigError(StorelensError):
    """The configuration file is missing, unreadable or invalid."""


class ModelError(StorelensError):
    """A model file is missing, corrupt or does not match its manifest checksum."""


class InputError(StorelensError):
    """An input (image, video, camera, payload) cannot be read or decoded."""

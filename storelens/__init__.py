"""storelens: in-store visitor analytics (edge vision, off-peak sync, cloud dashboard)."""

__version__ = "0.1.0"

"""Dash pages, one module per page. Dash imports each page module itself (use_pages=True);
`register_callbacks` then binds each page's callbacks to the given app (not to a global list,
so several apps in one process, as in the tests, never share callbacks)."""

from __future__ import annotations

import importlib

PAGE_MODULES = ("home", "store", "beforeafter", "compare", "devices")


def register_callbacks(app) -> None:
    for name in PAGE_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        hook = getattr(module, "register_callbacks", None)
        if hook is not None:
            hook(app)

"""Sales on the dashboard: conversion (POS transactions / entries), the POS upload, CSV downloads.

The sections live here, not in the pages: the store page puts `store_card.section()` in its
`store-more` slot and Compare puts `compare_card.section()` in `compare-more`; `register_callbacks`
binds their callbacks to the app.
"""

from __future__ import annotations


def register_callbacks(app) -> None:
    from dashboard.sales import compare_card, store_card, upload

    store_card.register_callbacks(app)
    upload.register_callbacks(app)
    compare_card.register_callbacks(app)

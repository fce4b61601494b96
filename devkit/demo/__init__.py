"""`storelens demo`: every storelens piece on one machine, on loopback, with embedded defaults.

stores.py defines the simulated stores and their config trees; runner.py starts and stops the
services in order and reports what flows through them.
"""

"""Backlight and low-light correction, adaptive per camera."""

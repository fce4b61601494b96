"""Jetson / DeepStream path: pipeline configs and the pyds probe adapter."""

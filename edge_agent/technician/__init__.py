"""Technician tools behind `storelens camera ...`: probe, check, snapshot, calibrate, ONVIF.

Frames read here stay in memory; the only thing ever written is the snapshot PNG the technician
asks for, and its faces are blurred before it is encoded.
"""

"""Face and person detectors; each backend converts its output to Detections at the edge."""

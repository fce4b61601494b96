"""Multi-object tracking and re-identification (embeddings in RAM only, with a TTL)."""

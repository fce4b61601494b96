"""Edge-to-cloud sync: wire schema, off-peak publisher, broker config and cloud ingest."""

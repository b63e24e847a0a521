"""Writes: ingestion, pre-aggregation, locking and demo-data seeding."""

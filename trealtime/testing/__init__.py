"""Test helpers: a fake Realtime server and deterministic audio utilities."""

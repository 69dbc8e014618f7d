"""Data: example types, readers of the official formats, sources and synthetic data."""

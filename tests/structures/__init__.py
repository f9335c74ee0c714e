"""Tests of perovflow.structures (no database, no workers)."""

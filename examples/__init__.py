"""Runnable example applications built on trealtime (not part of the installed package)."""

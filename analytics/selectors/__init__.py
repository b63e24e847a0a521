"""Reads. ``reference`` is the plain scan of raw ``BlogView`` rows: the oracle every faster path is tested against."""

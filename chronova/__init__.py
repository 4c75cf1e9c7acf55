"""Chronova's processes and their wiring: the store, relay, scheduler, conductor, CLI."""

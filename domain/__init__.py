"""Chronova's domain: aggregates, events, state machine and placement rules. No I/O."""

"""The read side of the compute API: answers from the read-model tables only."""

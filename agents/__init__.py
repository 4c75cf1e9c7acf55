"""Compute agents: drive a host's hypervisor and report what happened. No database."""

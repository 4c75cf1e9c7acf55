"""The write side of the compute API: validates requests and runs the use cases."""

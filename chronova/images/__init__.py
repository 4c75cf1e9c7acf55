"""The built-in image service: a Glance v2 compatible subset, images kept as events and files."""

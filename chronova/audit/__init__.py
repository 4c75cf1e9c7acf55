"""`chronova audit`: reading the event store as the story of the cloud."""

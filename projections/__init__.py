"""Read models built from the events: one projection per view, each tracked on its own."""

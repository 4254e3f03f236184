"""Events, seat inventory, tags and reviews."""

"""Gold customer features."""

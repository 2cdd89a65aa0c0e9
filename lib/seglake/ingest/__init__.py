"""Landing -> bronze -> silver."""

"""The ``exchange`` command: a thin composition root over the core (no logic of its own)."""

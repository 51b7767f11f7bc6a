"""exchange: federated data exchange for a central repository of cybercrime laws, case law and lessons learned."""

__version__ = "0.1.0"

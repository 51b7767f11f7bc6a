"""What national systems and partners run against the repository: client-side tools only."""

"""Unit tests of exchange/federation/."""

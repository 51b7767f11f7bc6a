"""Unit tests of exchange/validation/."""

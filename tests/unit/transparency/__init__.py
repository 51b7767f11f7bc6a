"""Unit tests of exchange/transparency/."""

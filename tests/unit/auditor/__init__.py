"""Unit tests of exchange/auditor/."""

"""The benchmark harness: ``python -m bench`` (or ``make bench``) writes bench/REPORT.md and bench/results.json."""

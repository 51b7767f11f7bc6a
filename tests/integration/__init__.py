"""Tests that open real parts of the service (databases, subprocesses, the app) without driving it over HTTP."""

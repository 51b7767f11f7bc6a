"""The offline auditor behind ``exchange verify``: it trusts nothing the repository says that it cannot check.

It reads an audit directory (see :mod:`exchange.auditor.layout`), written by :mod:`exchange.auditor.fetch`
from a running repository or copied from elsewhere, and checks the signed checkpoints, the Merkle tree
rebuilt from the log entries, every stored JWS against the key directory, every key event, and every
record version against the signed payload it claims to come from. :mod:`exchange.auditor.receipt` checks
one receipt alone.

Client-side code: it uses only the transparency log's verifier, the envelope, keys and JSON helpers,
and HTTP; never the repository, the services or the gateway.
"""

from exchange.auditor.report import Finding, Report
from exchange.auditor.run import verify_directory

__all__ = ["Finding", "Report", "verify_directory"]

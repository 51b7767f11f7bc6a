"""The audit directory: what ``exchange audit export`` writes and ``exchange verify DIR`` reads.

::

    DIR/
      manifest.json       {"format": "exchange-audit-dir/1", "source", "exported_at", "signed_size",
                           "files": {name: sha256 hex}}: written last, so a directory without it is incomplete
      info.json           GET /v1/info as served: origin, log origin, log verifier key(s)
      checkpoints.ndjson  every signed checkpoint up to the pinned one, smallest first:
                          {"size", "root" (base64), "note" (the C2SP signed note), "signed_at"}
      proofs.ndjson       {"type": "consistency", "old", "new", "proof": [base64…]} for each pair of
                          consecutive checkpoints, then {"type": "inclusion", "index", "size", "root",
                          "proof"} for the last entry under the newest checkpoint, as the server computed them
      entries.ndjson      every log entry under the newest checkpoint: {"index", "entry" (base64 of the exact
                          canonical JSON bytes)}, in index order
      export.ndjson       GET /v1/audit/export?format=ndjson as streamed: "submission" lines in log order,
                          then "version" lines in seq order, then one "end" line with the counts
      keys.json           GET /v1/keys: the key directory (JWKs with participant, status, validity)

The newest checkpoint is fetched before the export, so every decided submission and record version
under it is in the export; later ones are noted and left for the next audit.
"""

from __future__ import annotations

FORMAT = "exchange-audit-dir/1"
MANIFEST = "manifest.json"
INFO = "info.json"
CHECKPOINTS = "checkpoints.ndjson"
PROOFS = "proofs.ndjson"
ENTRIES = "entries.ndjson"
EXPORT = "export.ndjson"
KEYS = "keys.json"
FILES = (INFO, CHECKPOINTS, PROOFS, ENTRIES, EXPORT, KEYS)

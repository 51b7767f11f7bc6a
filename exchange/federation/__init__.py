"""Federation between repositories: witnessing other logs, and collecting cosignatures on our own.

* :mod:`.store`: the witness's latest checkpoint per log and the cosignatures a repository collected,
  on SQLite or PostgreSQL (:mod:`.store_sqlite`, :mod:`.store_postgresql`);
* :mod:`.witness`: the C2SP ``tlog-witness`` ``add-checkpoint`` check, atomic with its update;
* :mod:`.routes`: ``POST /witness/add-checkpoint`` over HTTP;
* :mod:`.collector`: asks the configured witnesses to cosign each new checkpoint, in the background.
"""

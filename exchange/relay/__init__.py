"""Relay (DESIGN §9): a hub forwards submissions signed for an upstream repository, as the exact signed
bytes, through a durable outbox; it never re-signs.

* :mod:`.outbox`: the relay outbox, a SQLite file of its own in the data directory (whatever the
  repository's database), so a relayed submission is durable before the hub answers ``202``;
* :mod:`.keys`: each upstream's key directory, fetched, kept in the outbox file and used to verify a
  State's signature before anything is stored;
* :mod:`.hub`: accepting a submission for an upstream (the intake's relay path) and its status;
* :mod:`.forwarder`: the background task of ``exchange serve`` that sends the stored bytes upstream,
  in order per record, with back-off, and records each upstream's answer.
"""

"""A mirror's writes: one verified step of an upstream repository, in one transaction."""

from __future__ import annotations

import sqlite3

import orjson

from exchange import times
from exchange.mirror.step import MirrorStep, RootMismatch
from exchange.repository.common import NEW_KEY_COLUMNS, key_values
from exchange.repository.sqlite.decisions import write_decided, write_endorsed, write_versions
from exchange.repository.sqlite.log import _nodes, append_log, log_size
from exchange.repository.sqlite.store import SqliteStore
from exchange.transparency.merkle import EMPTY_ROOT, root_from, root_nodes


def _apply(conn: sqlite3.Connection, step: MirrorStep) -> None:
    if step.entries and step.entries[0].index != log_size(conn):
        raise RootMismatch(f"the step starts at entry {step.entries[0].index}, the log holds {log_size(conn)}")
    append_log(conn, step.entries)
    size = step.checkpoint.size
    root = root_from(size, _nodes(conn, root_nodes(size))) if size else EMPTY_ROOT
    if log_size(conn) != size or root != step.checkpoint.root:
        raise RootMismatch(f"the entries do not make the root the checkpoint of size {size} signs")
    for p in step.participants:
        conn.execute(
            "INSERT INTO participants (id, name, type, jurisdictions, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, "
            "jurisdictions = excluded.jurisdictions",
            (p.id, p.name, p.type, orjson.dumps(list(p.jurisdictions)).decode(), p.created_at),
        )
    for k in step.keys:
        conn.execute(
            f"INSERT INTO keys ({NEW_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING",
            key_values(k.key, k.added_at, k.log_index),
        )
    for kid, (revoked_at, reason) in step.revoked.items():
        conn.execute("UPDATE keys SET revoked_at = ?, revoked_reason = ? WHERE kid = ?", (revoked_at, reason, kid))
    write_decided(conn, step.decided)
    write_versions(conn, step.versions, times.iso(times.now()))
    write_endorsed(conn, step.endorsed)
    conn.executemany(
        "INSERT INTO changes (seq, participant, kind, record_id, version, action, log_index, submission_id, kid, "
        "received_at, visibility) VALUES (?, '', '', '', 0, 'upsert', -1, '', '', '', 'withheld')",
        [(seq,) for seq in step.hidden],
    )
    c = step.checkpoint
    conn.execute(
        "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
        (c.size, c.root, c.note, c.signed_at),
    )


class MirrorStore(SqliteStore):
    """What a mirror node writes: the upstream's verified log, registry and feed."""

    async def mirror(self, step: MirrorStep) -> None:
        await self.db.write(lambda c: _apply(c, step))

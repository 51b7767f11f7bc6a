"""A mirror's writes: one verified step of an upstream repository, in one transaction."""

from __future__ import annotations

import orjson

from exchange import times
from exchange.mirror.step import MirrorStep, RootMismatch
from exchange.repository.common import NEW_KEY_COLUMNS, key_values
from exchange.repository.postgresql.decisions import write_decided, write_endorsed, write_versions
from exchange.repository.postgresql.log import append_log, fetch_nodes, lock_sequencer, log_size
from exchange.repository.postgresql.pool import PostgresPool
from exchange.transparency.merkle import EMPTY_ROOT, root_from, root_nodes


class MirrorStore(PostgresPool):
    """What a mirror node writes: the upstream's verified log, registry and feed."""

    async def mirror(self, step: MirrorStep) -> None:
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            held = await log_size(conn)
            if step.entries and step.entries[0].index != held:
                raise RootMismatch(f"the step starts at entry {step.entries[0].index}, the log holds {held}")
            await append_log(conn, step.entries)
            size = step.checkpoint.size
            root = root_from(size, await fetch_nodes(conn, root_nodes(size))) if size else EMPTY_ROOT
            if await log_size(conn) != size or root != step.checkpoint.root:
                raise RootMismatch(f"the entries do not make the root the checkpoint of size {size} signs")
            await conn.executemany(
                "INSERT INTO participants (id, name, type, jurisdictions, created_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, "
                "jurisdictions = excluded.jurisdictions",
                [
                    (p.id, p.name, p.type, orjson.dumps(list(p.jurisdictions)).decode(), p.created_at)
                    for p in step.participants
                ],
            )
            await conn.executemany(
                f"INSERT INTO keys ({NEW_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (kid) DO NOTHING",
                [key_values(k.key, k.added_at, k.log_index) for k in step.keys],
            )
            await conn.executemany(
                "UPDATE keys SET revoked_at = $2, revoked_reason = $3 WHERE kid = $1",
                [(kid, at, reason) for kid, (at, reason) in step.revoked.items()],
            )
            await write_decided(conn, step.decided)
            await write_versions(conn, step.versions, times.iso(times.now()))
            await write_endorsed(conn, step.endorsed)
            await conn.executemany(
                "INSERT INTO changes (seq, participant, kind, record_id, version, action, log_index, submission_id, "
                "kid, received_at, visibility) VALUES ($1, '', '', '', 0, 'upsert', -1, '', '', '', 'withheld')",
                [(seq,) for seq in step.hidden],
            )
            c = step.checkpoint
            await conn.execute(
                "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (size) DO NOTHING",
                c.size,
                c.root,
                c.note,
                c.signed_at,
            )

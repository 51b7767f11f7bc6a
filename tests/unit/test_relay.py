"""The relay's parts without a network: its settings, its routing and its outbox's order per record."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.envelope import SigningKey
from exchange.errors import ExchangeError
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.relay.hub import Relay, upstreams_of
from exchange.relay.outbox import NewEntry, RelayOutbox
from exchange.settings import SettingsError, load_settings
from tests.support import Signer, make_settings

CENTRAL = "https://central.test"


def test_upstreams_are_origin_url_pairs_separated_by_commas() -> None:
    settings = load_settings(
        env={"EXCHANGE_RELAY_UPSTREAMS": f"{CENTRAL}=http://10.0.0.1:8080/, https://other.test=https://o.test"}
    )
    assert [(u.origin, u.url) for u in upstreams_of(settings)] == [
        (CENTRAL, "http://10.0.0.1:8080"),
        ("https://other.test", "https://o.test"),
    ]
    with pytest.raises(SettingsError, match=r"expected '<origin>=<http\(s\) URL>'"):
        load_settings(env={"EXCHANGE_RELAY_UPSTREAMS": CENTRAL})
    with pytest.raises(SettingsError, match="named twice"):
        load_settings(env={"EXCHANGE_RELAY_UPSTREAMS": f"{CENTRAL}=http://a.test,{CENTRAL}=http://b.test"})


async def test_a_relay_never_names_its_own_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, relay_upstreams=("https://repository.test=http://127.0.0.1:1",))
    with pytest.raises(ValueError, match="own origin"):
        Relay(settings, RelayOutbox.in_directory(tmp_path))


async def test_routes_by_the_signed_audience(tmp_path: Path) -> None:
    signer = Signer(SigningKey.generate("GBR/2026-01"))
    settings = make_settings(tmp_path, relay_upstreams=(f"{CENTRAL}=http://127.0.0.1:1",))
    relay = Relay(settings, RelayOutbox.in_directory(tmp_path))
    try:
        route = relay.route(Signer(signer.key, audience=CENTRAL).submission({}), "flattened")
        assert route is not None and route.upstream.origin == CENTRAL and route.expected.audience == CENTRAL
        assert relay.route(Signer(signer.key, audience="https://repository.test").submission({}), "flattened") is None
        assert relay.route(b"not a JWS", "flattened") is None  # the intake's own checks say what is wrong
        with pytest.raises(ExchangeError, match="neither is nor relays to") as caught:
            relay.route(Signer(signer.key, audience="https://elsewhere.test").submission({}), "flattened")
        assert caught.value.problem.status == 422 and caught.value.errors[0]["pointer"] == "/audience"
    finally:
        await relay.close()


def _entry(n: int, record: str) -> NewEntry:
    return NewEntry(CENTRAL, "GBR", f"00000000-0000-4000-8000-{n:012d}", record, f"{n:064x}", FLATTENED_MEDIA_TYPE,
                    b"{}", True, "2026-01-01T00:00:00Z")  # fmt: skip


async def test_the_outbox_hands_out_each_record_in_order_and_leases_what_it_hands_out(tmp_path: Path) -> None:
    outbox = RelayOutbox.in_directory(tmp_path)
    await outbox.open()
    try:
        first, second, other = [await outbox.add(_entry(n, r)) for n, r in ((1, "a"), (2, "a"), (3, "b"))]
        assert (await outbox.add(_entry(1, "a"))).seq == first.seq  # stored once
        assert [e.seq for e in await outbox.lease(CENTRAL, 10, 60)] == [first.seq, other.seq]
        assert await outbox.lease(CENTRAL, 10, 60) == []  # leased, and the second waits for the first
        await outbox.settle(first, "relaying", 503, None, {"detail": "down"})  # transient: released
        assert [e.seq for e in await outbox.lease(CENTRAL, 10, 60)] == [first.seq]
        await outbox.settle(first, "forwarded", 202, "/v1/submissions/GBR/x", {"status": "received"})
        assert [e.seq for e in await outbox.lease(CENTRAL, 10, 60)] == [second.seq]
        assert await outbox.counts() == {"relaying": 2, "forwarded": 1, "refused": 0}
        stored = await outbox.get("GBR", first.submission_id)
        assert stored is not None and stored.attempts == 2 and stored.location == "/v1/submissions/GBR/x"
    finally:
        await outbox.close()

"""ServerState.look_up: a customer not found is asked of the database once per data version."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from percorso.errors import NotFound
from percorso.server.state import ResultCache, ServerState


def _state() -> ServerState:
    state = ServerState.__new__(ServerState)  # no project: look_up needs the cache and the worker only
    state.cache, state.data_version, state._shared = ResultCache(), 0, False
    state._db = ThreadPoolExecutor(max_workers=1)
    return state


def _run(coro):  # type: ignore[no-untyped-def]
    """``asyncio.run`` on a thread of its own: a suite's earlier test (Playwright's sync API) may
    leave an event loop running on the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_a_miss_is_remembered_until_the_data_changes() -> None:
    state = _state()
    known: dict[str, str] = {}
    reads: list[str] = []

    def profile(who: str) -> str:
        reads.append(who)
        if who not in known:
            raise NotFound(f"no customer found for '{who}'")
        return known[who]

    async def ask(who: str) -> str:
        return await state.look_up("customer", who, profile, who)

    for _ in range(3):
        with pytest.raises(NotFound, match="'ann'"):
            _run(ask("ann"))
    assert reads == ["ann"]                      # one read for three polls
    known["ann"] = "C1"
    with pytest.raises(NotFound):                # the data did not say it changed: the miss stands
        _run(ask("ann"))
    state.changed()
    assert _run(ask("ann")) == "C1"       # a new data version reads again
    assert _run(ask("ann")) == "C1"
    assert reads == ["ann", "ann", "ann"]        # found answers are always read
    with pytest.raises(NotFound):
        _run(ask("bob"))                  # another key is its own miss
    assert reads[-1] == "bob"
    state._db.shutdown()

"""Conformance against a naive model: random writes and compactions, then every retained
revision must list exactly the model's state, and a replay must rebuild it event by event."""

from __future__ import annotations

import random

import pytest
from tests.unit.store.store_helpers import take

from kubeling.store.backend import CompactedError, ConflictError, KeyExistsError, KeyNotFoundError

KEYS = ["/m/a", "/m/b", "/m/c", "/m/d", "/ma", "/n/a"]


async def random_history(backend, rng: random.Random, steps: int) -> list[dict[str, bytes]]:
    """Apply random operations; returns the model state after each revision (index = revision)."""
    states: list[dict[str, bytes]] = [{}]
    for step in range(steps):
        key, value = rng.choice(KEYS), f"v{step}".encode()
        state = dict(states[-1])
        current = await backend.get(key)
        op = rng.choice(["create", "update", "update", "delete", "stale"])
        try:
            if op == "create":
                await backend.create(key, value)
                state[key] = value
            elif op == "update":
                await backend.update(key, value, current.mod_revision if current else 0)
                state[key] = value
            elif op == "delete":
                await backend.delete(key, current.mod_revision if current else 0)
                del state[key]
            else:  # a stale compare-and-swap must fail without writing
                await backend.update(key, value, (current.mod_revision + 1000) if current else 1)
                pytest.fail("stale update succeeded")
        except KeyExistsError:
            assert op == "create" and key in state
            continue
        except KeyNotFoundError:
            assert key not in state
            continue
        except ConflictError as err:
            assert op == "stale" and err.current == current
            continue
        states.append(state)
        if rng.random() < 0.05:
            await backend.compact(rng.randint(1, len(states) - 1))
    return states


@pytest.mark.parametrize("seed", range(4))
async def test_random_history_matches_model(backend, seed):
    rng = random.Random(seed)
    states = await random_history(backend, rng, 300)
    head = await backend.current_revision()
    assert head == len(states) - 1
    compacted = await backend.compacted_revision()
    for rev in range(compacted, head + 1):
        listed = await backend.list("/m/", revision=rev)
        want = {k: v for k, v in states[rev].items() if k.startswith("/m/")}
        assert {kv.key: kv.value for kv in listed.kvs} == want, rev
    if compacted > 0:
        with pytest.raises(CompactedError):
            await backend.list("/m/", revision=compacted - 1)

    # Replaying events from the compacted state rebuilds every later state.
    state = {kv.key: kv.value for kv in (await backend.list("", revision=compacted)).kvs}
    watch = backend.watch("", compacted)
    for event in await take(watch, head - compacted):
        assert event.prev is None or state[event.kv.key] == event.prev.value
        if event.type == "DELETE":
            assert state.pop(event.kv.key) == event.kv.value
        else:
            assert (event.prev is None) == (event.kv.key not in state)
            state[event.kv.key] = event.kv.value
        assert state == states[event.revision], event.revision
    await watch.aclose()

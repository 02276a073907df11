"""Audit hash chain: a clean chain verifies; edits, removals, inserts and reorders are reported."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from relaydesk.privacy import audit_chain as ac
from relaydesk.privacy.audit_chain import ActorKind, AuditRecord, ChainedRecord, Outcome

WS = uuid.UUID("0190b5a0-0000-7000-8000-000000000001")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(seq: int, **changes: object) -> AuditRecord:
    base = AuditRecord(
        workspace_id=WS,
        seq=seq,
        occurred_at=T0 + timedelta(seconds=seq),
        actor_kind=ActorKind.USER,
        actor_id=f"user-{seq % 3}",
        action="contact.export" if seq % 2 else "auth.login",
        target_type="contact",
        target_id=str(uuid.UUID(int=seq)),
        ip="203.0.113.7",
        request_id=f"req-{seq}",
        outcome=Outcome.SUCCESS,
        metadata={"format": "json", "rows": seq},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def build(n: int) -> list[ChainedRecord]:
    rows: list[ChainedRecord] = []
    for seq in range(1, n + 1):
        rows.append(ac.append(rows[-1] if rows else None, record(seq)))
    return rows


def tamper(row: ChainedRecord, **changes: object) -> ChainedRecord:
    """What someone with UPDATE rights produces: changed content, old hashes."""
    return dataclasses.replace(row, record=dataclasses.replace(row.record, **changes))  # type: ignore[arg-type]


def kinds(problems: list[ac.ChainProblem]) -> set[tuple[int | None, str]]:
    return {(p.seq, p.kind) for p in problems}


def test_intact_chain_verifies() -> None:
    rows = build(6)
    assert ac.verify_chain(rows, WS) == []
    assert ac.verify_chain(rows[3:], WS, start=rows[2]) == []
    assert ac.verify_chain([], WS) == []


def test_hash_matches_the_documented_formula() -> None:
    rows = build(2)
    genesis = hashlib.sha256(b"relaydesk/audit/genesis\x00" + WS.bytes).hexdigest()
    assert rows[0].prev_hash == genesis
    doc = json.loads(ac.canonical_bytes(rows[1].record))
    assert doc["occurred_at"] == "2026-03-01T12:00:02.000000Z"
    assert doc["actor_kind"] == "user" and doc["seq"] == 2 and doc["v"] == 1
    manual = hashlib.sha256(bytes.fromhex(rows[0].hash) + ac.canonical_bytes(rows[1].record)).hexdigest()
    assert rows[1].hash == manual


def test_canonical_form_ignores_timezone_spelling_and_dict_order() -> None:
    cet = timezone(timedelta(hours=1))
    a = record(1, occurred_at=T0, metadata={"a": 1, "b": "x"})
    b = record(1, occurred_at=T0.astimezone(cet), metadata={"b": "x", "a": 1})
    assert ac.canonical_bytes(a) == ac.canonical_bytes(b)


@pytest.mark.parametrize(
    "change",
    [
        {"actor_id": "someone-else"},
        {"outcome": Outcome.FAILURE},
        {"occurred_at": T0 + timedelta(days=1)},
        {"metadata": {"format": "csv", "rows": 3}},
        {"actor_kind": ActorKind.SYSTEM},
        {"ip": None},
    ],
)
def test_edit_is_detected(change: dict[str, object]) -> None:
    rows = build(5)
    rows[2] = tamper(rows[2], **change)
    assert kinds(ac.verify_chain(rows, WS)) == {(3, "edited")}


def test_removal_is_detected() -> None:
    rows = build(5)
    del rows[2]
    assert kinds(ac.verify_chain(rows, WS)) == {(4, "gap"), (4, "broken_link")}


def test_removal_with_renumbering_is_detected() -> None:
    rows = build(5)
    del rows[2]
    rows[2:] = [tamper(r, seq=r.record.seq - 1) for r in rows[2:]]
    problems = kinds(ac.verify_chain(rows, WS))
    assert (3, "broken_link") in problems and (3, "edited") in problems


def test_insertion_is_detected() -> None:
    rows = build(4)
    forged = ac.append(rows[1], record(3, action="role.change"))  # correctly linked to row 2...
    rows.insert(2, forged)
    problems = kinds(ac.verify_chain(rows, WS))
    assert (3, "out_of_order") in problems  # ...but the original seq 3 now follows it
    assert (3, "broken_link") in problems


def test_reorder_is_detected() -> None:
    rows = build(5)
    rows[1], rows[2] = rows[2], rows[1]
    problems = kinds(ac.verify_chain(rows, WS))
    assert (3, "gap") in problems and (2, "out_of_order") in problems


def test_swapped_sequence_numbers_are_detected() -> None:
    rows = build(5)
    rows[1], rows[2] = tamper(rows[2], seq=2), tamper(rows[1], seq=3)
    assert {k for _, k in kinds(ac.verify_chain(rows, WS))} >= {"edited", "broken_link"}


def test_chain_from_another_workspace_is_detected() -> None:
    rows = build(2)
    other = uuid.uuid4()
    assert (1, "broken_link") in kinds(ac.verify_chain(rows, other))


def test_rewritten_chain_caught_by_checkpoint() -> None:
    key = b"k" * 32
    rows = build(5)
    mac = ac.checkpoint_mac(key, WS, 5, rows[4].hash)
    assert ac.verify_checkpoint(key, rows, WS, 5, mac) == []

    # An attacker edits row 2 and recomputes every later hash: the chain alone looks fine...
    rewritten = rows[:1]
    for r in rows[1:]:
        rec = r.record if r.record.seq != 2 else dataclasses.replace(r.record, actor_id="nobody")
        rewritten.append(ac.append(rewritten[-1], rec))
    assert ac.verify_chain(rewritten, WS) == []
    # ...but not against the checkpoint, and neither does a truncated chain.
    assert kinds(ac.verify_checkpoint(key, rewritten, WS, 5, mac)) == {(5, "checkpoint")}
    assert kinds(ac.verify_checkpoint(key, rows[:4], WS, 5, mac)) == {(5, "checkpoint")}


def test_record_validation() -> None:
    with pytest.raises(ValueError):
        record(1, occurred_at=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValueError):
        record(0)
    for bad in ({"body": "hi"}, {"Content": "x"}, {"score": 0.5}, {"note": "x" * 300}, {"n": {"nested": 1}}):
        with pytest.raises(ValueError):
            record(1, metadata=bad)
    assert record(1, actor_kind="ai_agent").actor_kind is ActorKind.AI_AGENT
    with pytest.raises(ValueError):
        record(1, actor_kind="robot")


def test_append_refuses_wrong_sequence() -> None:
    rows = build(2)
    with pytest.raises(ValueError):
        ac.append(rows[1], record(4))
    with pytest.raises(ValueError):
        ac.append(None, record(2))

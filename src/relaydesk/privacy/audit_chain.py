"""Hash-chain helpers for the append-only, per-workspace audit log (privacy checklist item 45).

    h_n = SHA-256(h_{n-1} || canonical_json(record_n)),   h_0 = SHA-256("relaydesk/audit/genesis" || ws)

Each row stores its sequence number, the previous hash and its own hash. Editing, removing, inserting or
reordering rows breaks either a recomputed hash or a link, which `verify_chain` reports. Someone who can
rewrite *every* later row can recompute the chain, so heads are also MAC-ed into checkpoints
(`checkpoint_mac`) kept outside the database; a checkpoint also catches a truncated tail.

Records reference subjects by id and never carry message content: `metadata` accepts only short scalars
under keys that do not look like content, so erasure never has to rewrite the chain.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

SCHEMA_VERSION = 1
MAX_METADATA_KEYS = 32
MAX_METADATA_TEXT = 256
# Keys that would tempt someone to log message content or credentials; refused outright.
FORBIDDEN_METADATA_KEYS = frozenset(
    {"body", "content", "text", "message", "html", "subject", "password", "secret", "token", "email", "phone"}
)

MetadataValue = str | int | bool | None


class ActorKind(enum.StrEnum):
    USER = "user"
    API_TOKEN = "api_token"
    AI_AGENT = "ai_agent"
    SYSTEM = "system"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@dataclass(frozen=True)
class AuditRecord:
    """One audit event as the chain hashes it (ASVS 16.2.1: who, what, when, where, outcome)."""

    workspace_id: uuid.UUID
    seq: int
    occurred_at: datetime
    actor_kind: ActorKind
    actor_id: str | None
    action: str
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    request_id: str | None = None
    outcome: Outcome = Outcome.SUCCESS
    metadata: Mapping[str, MetadataValue | list[MetadataValue]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError("seq starts at 1")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware (it is stored in UTC)")
        if not self.action:
            raise ValueError("action is required")
        object.__setattr__(self, "actor_kind", ActorKind(self.actor_kind))
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        _check_metadata(self.metadata)


def _check_metadata(metadata: Mapping[str, object]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError("too many metadata keys")
    for key, value in metadata.items():
        if not isinstance(key, str) or key.lower() in FORBIDDEN_METADATA_KEYS:
            raise ValueError(f"metadata key {key!r} is not allowed in the audit log (no content, no PII)")
        values = value if isinstance(value, list) else [value]
        for item in values:
            # No floats: their text form is not canonical across platforms, and audit data needs none.
            if item is not None and not isinstance(item, str | int | bool):
                raise ValueError(f"metadata {key!r} must hold str, int, bool or None")
            if isinstance(item, str) and len(item) > MAX_METADATA_TEXT:
                raise ValueError(f"metadata {key!r} is too long to be an identifier")


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(record: AuditRecord) -> bytes:
    """Deterministic JSON (sorted keys, no spaces, UTC with microseconds): the bytes that get hashed."""
    doc = {
        "v": SCHEMA_VERSION,
        "workspace_id": str(record.workspace_id),
        "seq": record.seq,
        "occurred_at": _utc_text(record.occurred_at),
        "actor_kind": record.actor_kind.value,
        "actor_id": record.actor_id,
        "action": record.action,
        "target_type": record.target_type,
        "target_id": record.target_id,
        "ip": record.ip,
        "request_id": record.request_id,
        "outcome": record.outcome.value,
        "metadata": dict(record.metadata),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def genesis_hash(workspace_id: uuid.UUID) -> str:
    """Per-workspace starting point, so one workspace's chain cannot be passed off as another's."""
    return hashlib.sha256(b"relaydesk/audit/genesis\x00" + workspace_id.bytes).hexdigest()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    """SHA-256 over the previous hash (raw 32 bytes) and the record's canonical bytes, as hex."""
    prev = bytes.fromhex(prev_hash)
    if len(prev) != 32:
        raise ValueError("prev_hash must be 64 hex characters")
    return hashlib.sha256(prev + canonical_bytes(record)).hexdigest()


@dataclass(frozen=True)
class ChainedRecord:
    """A record as stored: with the hash it links to and its own hash."""

    record: AuditRecord
    prev_hash: str
    hash: str


def append(prev: ChainedRecord | None, record: AuditRecord) -> ChainedRecord:
    """Link the next record. The caller must insert it under a per-workspace lock or unique (ws, seq)
    constraint so two writers cannot both append seq n."""
    if prev is None:
        if record.seq != 1:
            raise ValueError("the first record of a workspace has seq 1")
        prev_hash = genesis_hash(record.workspace_id)
    else:
        if record.workspace_id != prev.record.workspace_id or record.seq != prev.record.seq + 1:
            raise ValueError("record does not follow prev (workspace or seq)")
        prev_hash = prev.hash
    return ChainedRecord(record=record, prev_hash=prev_hash, hash=chain_hash(prev_hash, record))


@dataclass(frozen=True)
class ChainProblem:
    seq: int | None
    kind: str  # edited | broken_link | gap | out_of_order | wrong_workspace | checkpoint
    detail: str


def verify_chain(
    records: Sequence[ChainedRecord],
    workspace_id: uuid.UUID,
    *,
    start: ChainedRecord | None = None,
    after: tuple[int, str] | None = None,
) -> list[ChainProblem]:
    """Check records in the order read (ORDER BY seq, or insertion order); an empty list means intact.

    `start` is the verified record just before `records[0]`, to check a window instead of the whole chain;
    `after` = (seq, hash) does the same from a checkpoint (the last row a retention purge removed).
    One edit is reported once: after a problem, checking continues from the stored hash.
    """
    problems: list[ChainProblem] = []
    if start is not None:
        after = (start.record.seq, start.hash)
    prev_hash = after[1] if after else genesis_hash(workspace_id)
    expected_seq = after[0] + 1 if after else 1
    for row in records:
        rec = row.record
        if rec.workspace_id != workspace_id:
            problems.append(ChainProblem(rec.seq, "wrong_workspace", "row belongs to another workspace"))
        if rec.seq < expected_seq:
            problems.append(
                ChainProblem(rec.seq, "out_of_order", f"seq {rec.seq} after seq {expected_seq - 1}")
            )
        elif rec.seq > expected_seq:
            missing = f"{expected_seq}" if rec.seq == expected_seq + 1 else f"{expected_seq}-{rec.seq - 1}"
            problems.append(ChainProblem(rec.seq, "gap", f"seq {missing} missing"))
        if not hmac.compare_digest(row.prev_hash, prev_hash):
            problems.append(
                ChainProblem(rec.seq, "broken_link", "previous hash does not match the row before")
            )
        if not hmac.compare_digest(chain_hash(row.prev_hash, rec), row.hash):
            problems.append(ChainProblem(rec.seq, "edited", "stored hash does not match the row's content"))
        prev_hash = row.hash
        expected_seq = rec.seq + 1
    return problems


def checkpoint_mac(key: bytes, workspace_id: uuid.UUID, seq: int, head_hash: str) -> str:
    """HMAC of a chain head, published hourly to storage the database role cannot write (WORM/another
    system), so a rewritten or truncated chain no longer matches a checkpoint."""
    message = f"relaydesk/audit/checkpoint\x00{workspace_id}\x00{seq}\x00{head_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_checkpoint(
    key: bytes, records: Sequence[ChainedRecord], workspace_id: uuid.UUID, seq: int, mac: str
) -> list[ChainProblem]:
    """Check that the row at `seq` still carries the head hash the checkpoint vouched for."""
    row = next((r for r in records if r.record.seq == seq and r.record.workspace_id == workspace_id), None)
    if row is None:
        return [ChainProblem(seq, "checkpoint", "checkpointed row is missing (chain truncated?)")]
    if not hmac.compare_digest(checkpoint_mac(key, workspace_id, seq, row.hash), mac):
        return [ChainProblem(seq, "checkpoint", "row differs from the checkpointed head (chain rewritten?)")]
    return []

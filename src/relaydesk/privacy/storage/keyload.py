"""Contact keys for rows read from the database: right after an AsyncSession SELECT of `Contact`,
`Message` or `Attachment` rows, their contact keys are fetched in one batched query and pinned to them,
so the synchronous read functions (serializers call them while building JSON) can decrypt. A shredded
contact's key pins as None and its fields read as None. Importing this module installs the ORM events."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from relaydesk.privacy import crypto, vault
from relaydesk.privacy.keys import contact_id_from_key_id
from relaydesk.privacy.keystore import bound_session
from relaydesk.privacy.storage.sealing import SEALED_COLUMNS, pin

_LOADED = "relaydesk.loaded_sealed_rows"


def _sealed_contacts(obj: Any) -> set[uuid.UUID]:
    found = set()
    for column in SEALED_COLUMNS[type(obj)]:
        blob = obj.__dict__.get(column)
        if isinstance(blob, bytes | bytearray | memoryview) and blob:
            try:
                contact_id = contact_id_from_key_id(crypto.key_id_of(bytes(blob)))
            except crypto.DecryptionError:
                continue
            if contact_id is not None:
                found.add(contact_id)
    return found


def _prime_loaded(session: Session, rows: list[Any]) -> None:
    """Pin the contact keys of freshly loaded rows: cached ones directly, the rest in one query per
    workspace, so a page of N messages costs one key query however large N is."""
    ring = vault.ring()
    missing: dict[uuid.UUID, dict[uuid.UUID, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for obj in rows:
        for contact_id in _sealed_contacts(obj):
            key = ring.cached_contact_key(obj.workspace_id, contact_id)
            if key is not None:
                pin(obj, contact_id, key)
            else:
                missing[obj.workspace_id][contact_id].append(obj)
    for workspace_id, by_contact in missing.items():
        token = bound_session.set(session)
        try:
            stored = vault.store().contact_keys_for(workspace_id, list(by_contact))
        finally:
            bound_session.reset(token)
        for contact_id, objs in by_contact.items():
            wrapped = stored.get(contact_id)
            key: bytes | None = None
            if wrapped is not None:
                key = vault.drive(session, ring.install_contact_key(workspace_id, contact_id, wrapped))
            for obj in objs:
                pin(obj, contact_id, key)


def _on_load(target: Any, context: Any) -> None:
    session = getattr(context, "session", None)
    if session is not None:
        session.info.setdefault(_LOADED, []).append(target)


def _on_refresh(target: Any, context: Any, _attrs: Any) -> None:
    _on_load(target, context)


for _model in SEALED_COLUMNS:
    event.listen(_model, "load", _on_load)
    event.listen(_model, "refresh", _on_refresh)


_SEALED_MODELS = tuple(SEALED_COLUMNS)


@event.listens_for(Session, "do_orm_execute")
def _after_select(state: ORMExecuteState) -> Any:
    if not state.is_select:
        return None
    result = state.invoke_statement()
    options = state.execution_options
    if (
        not options.get("prebuffer_rows")
        and not options.get("yield_per")
        and not options.get("stream_results")
        and any(issubclass(m.class_, _SEALED_MODELS) for m in state.all_mappers)
    ):
        # `AsyncSession.get()` and `refresh()` do not prebuffer: materialise the rows now, while SQL may
        # still run synchronously, so their keys are loaded before any caller reads them.
        result = result.freeze()()
    loaded = state.session.info.pop(_LOADED, None)
    if loaded:
        _prime_loaded(state.session, loaded)
    return result

"""The hash-chained audit log (privacy/audit.py): who did what to which id, from which IP. Rows name
subjects by id, never by content."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="audit log",
        about="actor id, target id, IP address and PII-free details of each security-relevant action",
        tables={"audit_events": ("actor_id", "target_id", "ip", "details")},
        subject="audit_events.target_id / actor_id",
        export="not exported: the export's own audit rows are listed in the receipt",
        erase="kept (ids only, needed to prove what was done); purged by retention",
        retention=Retention.LOGS,
        enforced="`audit.retention` job, `audit_retention_days` (default 365)",
    ),
)

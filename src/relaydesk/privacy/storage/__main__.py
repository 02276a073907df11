"""`python -m relaydesk.privacy.storage` rewrites the map of personal data in docs/privacy.md from the
data classes (tests/privacy/test_data_map.py fails while it is stale)."""

from pathlib import Path

from relaydesk.privacy.storage.catalogue import with_docs_table

path = Path(__file__).resolve().parents[4] / "docs" / "privacy.md"
path.write_text(with_docs_table(path.read_text()))

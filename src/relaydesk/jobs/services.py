"""What a job handler may use of the process: the database, the settings and the outbound HTTP clients.

Handlers receive this narrow object (`JobContext.services`) instead of the whole `Runtime`, so the jobs
package never depends on the object that assembles the process (runtime.py builds one `Services` and
hands it to its dispatcher), and a handler cannot reach the intake, the dispatcher or the WebSocket side.
Outbound clients are chosen by purpose in one place (`http_for`), so the rule for which destinations a
request may reach is decided here rather than at every call site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from relaydesk.config import Settings
from relaydesk.db.engine import Database

#: What an outbound request is for: a channel delivery, a webhook endpoint, or an AI provider endpoint.
Purpose = Literal["channel", "webhook", "ai"]


@dataclass
class Services:
    settings: Settings
    db: Database
    # `guarded` refuses private and loopback destinations (SSRF guard); `unrestricted` serves only
    # destinations that may be private (see `http_for`).
    guarded: httpx.AsyncClient
    unrestricted: httpx.AsyncClient

    def http_for(self, purpose: Purpose, *, allow_private: bool = False) -> httpx.AsyncClient:
        """The client for an outbound request of `purpose`. Channel deliveries and webhooks go through
        the SSRF guard unless their workspace allows private targets; an AI provider endpoint (often a
        model server on the local network) is reached without it."""
        if purpose == "ai" or allow_private:
            return self.unrestricted
        return self.guarded

    async def aclose(self) -> None:
        await self.guarded.aclose()
        await self.unrestricted.aclose()

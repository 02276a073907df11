"""What a job handler may use of the process: the database, the settings, the outbound HTTP clients and
the inbound intake (for channels' background receivers, which submit what they fetch like the webhook door).

Handlers receive this narrow object (`JobContext.services`) instead of the whole `Runtime`, so the jobs
package never depends on the object that assembles the process (runtime.py builds one `Services` and
hands it to its dispatcher), and a handler cannot reach the intake, the dispatcher or the WebSocket side.
Outbound clients are chosen by purpose in one place (`http_for`); every one of them is SSRF-guarded, and
whether a purpose may reach private addresses is the operator's setting (outbound/ssrf.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from relaydesk.config import Settings
from relaydesk.db.engine import Database
from relaydesk.inbound.handover import Submitter
from relaydesk.outbound.ssrf import OutboundHttp, Purpose


@dataclass
class Services:
    settings: Settings
    db: Database
    # One guarded client per purpose; there is no unguarded client (decision 31).
    http: OutboundHttp
    # The process's intake (set by runtime.py), seen only as a `Submitter`.
    inbound: Submitter | None = None

    def http_for(self, purpose: Purpose) -> httpx.AsyncClient:
        """The client for an outbound request of `purpose` ("webhooks", "channels" or "ai")."""
        return self.http.client(purpose)

    async def aclose(self) -> None:
        await self.http.aclose()

"""`hours.away_message`: the away message a customer gets when they write while the inbox is closed.

The receiving path enqueues it (actions/incoming.py) with a key naming the conversation and the opening
that ends the closed spell, so the jobs table's unique key makes it one message per conversation per spell;
the action re-checks that the inbox is still closed before posting (actions/business_hours.py).
"""

from __future__ import annotations

import datetime as dt
import uuid

from relaydesk.actions.business_hours import AWAY_MESSAGE_JOB, send_away_message
from relaydesk.errors import NotFound
from relaydesk.jobs.registry import JobContext, handler


@handler(AWAY_MESSAGE_JOB)
async def away_message(ctx: JobContext) -> None:
    opening = ctx.payload.get("opening")
    assert ctx.job.workspace_id is not None
    async with ctx.services.db.write() as session:
        try:
            await send_away_message(
                session,
                ctx.job.workspace_id,
                uuid.UUID(ctx.payload["conversation_id"]),
                opening=dt.datetime.fromisoformat(opening) if opening else None,
            )
        except NotFound:
            pass  # the conversation (or its inbox) was deleted meanwhile: nothing to answer
        await ctx.complete(session)

"""Property-based requests generated from our own OpenAPI schema: no input may cause a server error, and
every answer matches what the document says (status documented, content type, headers, body schema).

Cases come from schemathesis (hypothesis strategies per operation) and are sent through the test client
in this event loop, with an admin's token; about half of them get real ids of the workspace's rows in
their path, so generated bodies reach the handlers behind the 404s too.
"""

from __future__ import annotations

import random

import hypothesis
import schemathesis
from schemathesis.core import NOT_SET
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from relaydesk.server.app import create_app
from tests.api.test_tenant_matrix import seed_b

EXAMPLES_PER_OPERATION = 4
# The caller's own membership and tokens stay out of the substitution, so the run keeps its credentials.
KEEP_RANDOM = {"membership_id", "token_id"}
# The response checks that judge one answer against the document. The stateful ones (use-after-free,
# authorization across users) and the positive/negative data ones need a schemathesis-driven run; the
# tenant matrix and the bad-input tests cover those questions directly.
RESPONSE_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def generate(operation, count: int) -> list:
    cases: list = []

    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
    )
    @hypothesis.given(operation.as_strategy())
    def collect(case) -> None:
        cases.append(case)

    collect()
    return cases


async def test_generated_requests_never_fail_and_match_the_document(client, runtime, make_workspace):
    ws = await make_workspace()
    ids = await seed_b(client, runtime, ws)  # the same seeding, here into the caller's own workspace
    app = create_app(runtime=runtime, manage_runtime=False)
    schema = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
    rng = random.Random(7)
    failures: list[str] = []
    mismatches: list[str] = []
    sent = succeeded = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for case in generate(operation, EXAMPLES_PER_OPERATION):
            params = dict(case.path_parameters or {})
            if rng.random() < 0.5:
                params = {k: ids.get(k, v) if k not in KEEP_RANDOM else v for k, v in params.items()}
            path = operation.path.format(**{k: str(v) for k, v in params.items()})
            kwargs: dict = {"params": case.query or None, "headers": ws.admin.headers}
            if case.body is not NOT_SET:
                kwargs["json"] = case.body
            resp = await client.request(case.method.upper(), path, **kwargs)
            sent += 1
            succeeded += resp.status_code < 300
            if resp.status_code >= 500:
                failures.append(
                    f"{case.method.upper()} {path} {case.query} {case.body!r:.200} -> {resp.status_code}"
                )
                continue
            try:
                case.validate_response(resp, checks=RESPONSE_CHECKS)
            except (FailureGroup, Failure) as exc:  # one group listing every failed check
                title = " | ".join(str(e).splitlines()[0] for e in getattr(exc, "exceptions", [exc]))
                mismatches.append(f"{case.method.upper()} {operation.path} -> {resp.status_code}: {title}")
    assert sent > 200 and succeeded > 50, (sent, succeeded)  # not everything bounced off validation
    assert not failures, "\n".join(failures)
    assert not mismatches, "\n".join(sorted(set(mismatches)))

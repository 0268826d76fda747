"""Where a webhook may go: what the outbound policy allows, and a URL fit for signing.

An agency types the URL, so the call is one to a caller-chosen host: the URL is checked
when it is saved (:func:`agency.kernel.outbound.check_url`) and every delivery goes through
the policy's transport, which checks the addresses it connects to (see
``agency.kernel.outbound``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from agency.kernel.outbound import OutboundPolicy, OutboundRefused, check_url

MAX_URL_LENGTH = 2000


def target_problems(url: str, policy: OutboundPolicy) -> list[str]:
    """What is wrong with ``url`` as a webhook target, in plain words (empty: nothing)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["is not a valid URL"]
    try:
        check_url(url, policy)
    except OutboundRefused as exc:
        return [exc.reason]
    problems = []
    if parts.fragment:
        problems.append("must not have a #fragment (it is never sent)")
    if port == 0:
        problems.append("has an invalid port")
    return problems

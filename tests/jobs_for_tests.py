"""A job that leaves a trace in Redis, to see exactly how often a message ran."""

from __future__ import annotations

import redis
from sqlalchemy.ext.asyncio import AsyncSession

from agency.kernel.jobs import job
from agency.kernel.runtime import Runtime


@job("test.record", queue="test", max_retries=0)
async def record(session: AsyncSession, runtime: Runtime, key: str) -> None:
    url = runtime.settings.redis.url
    assert url is not None
    redis.Redis.from_url(url).incr(f"test:record:{key}")

"""The order in which a worker process's call slots and database turns are given: urgent
first, then posts less than half a second late, then the other late posts, a burst's last."""

from __future__ import annotations

import asyncio
import time

from agency.publication.dispatch import Gate


async def served_order(requests: list[tuple[str, float, bool, bool]]) -> list[str]:
    """Each request (name, seconds late, urgent, burst) waits on a full gate of one permit;
    the permit is then passed on from one to the next."""
    gate = Gate(1)
    await gate.acquire(time.time())  # the gate is full
    order: list[str] = []

    async def wait(name: str, late: float, urgent: bool, burst: bool) -> None:
        await gate.acquire(time.time() - late, urgent=urgent, burst=burst)
        order.append(name)
        gate.release(1)

    waiting = [asyncio.create_task(wait(*request)) for request in requests]
    await asyncio.sleep(0.01)  # all of them in line
    gate.release(1)
    await asyncio.gather(*waiting)
    return order


async def test_a_post_that_missed_its_half_second_goes_before_a_burst_due_earlier() -> None:
    order = await served_order(
        [
            ("burst, 8 s late", 8.0, False, True),
            ("post, 2 s late", 2.0, False, False),
            ("post, 0.1 s late", 0.1, False, False),
            ("answers to save", 9.0, True, False),
            ("post, 5 s late", 5.0, False, False),
            ("burst, 9 s late", 9.0, False, True),
        ]
    )
    assert order == [
        "answers to save",
        "post, 0.1 s late",
        "post, 5 s late",
        "post, 2 s late",
        "burst, 9 s late",
        "burst, 8 s late",
    ]


async def test_a_burst_alone_is_served_oldest_first() -> None:
    order = await served_order([("second", 1.0, False, True), ("first", 2.0, False, True)])
    assert order == ["first", "second"]

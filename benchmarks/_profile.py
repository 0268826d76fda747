"""Where a server process spends its time: a stack sampler and a garbage-collector timer.

cProfile misattributes time across SQLAlchemy's greenlet switches; a sampler that looks at
the main thread's frame every millisecond does not.
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType

ENV = "AGENCY_BENCH_PROFILE"  # a server started with it set samples itself, writing there


class GcTimer:
    """Wall time spent in the cyclic garbage collector, via ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/benchmarks/"):
        if marker in filename:
            short = filename.split(marker, 1)[1]
            return f"benchmarks/{short}" if marker == "/benchmarks/" else short
    return "stdlib/" + Path(filename).name


def _package(filename: str) -> str:
    if filename == __file__:  # the sample landed in GcTimer.__call__
        return "(garbage collector: the GIL came back in its gc callback)"
    short = _short(filename)
    if short in ("stdlib/runners.py", "stdlib/base_events.py"):
        return "(event loop: idle, or C code: uvloop, asyncpg protocol, httptools)"
    return short if short.startswith("stdlib/") else short.split("/", 1)[0]


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"


def _ranked(weights: dict[str, float], most: int | None = None) -> list[tuple[str, float]]:
    return sorted(weights.items(), key=lambda item: item[1], reverse=True)[:most]


class StackSampler(threading.Thread):
    """Samples the main thread's Python stack every millisecond; writes JSON at exit.

    It sees the frame that runs at that instant, inside a greenlet too. Time in C code that
    no Python frame calls (uvloop callbacks, asyncpg's protocol) lands on the event loop frame.
    """

    def __init__(self, path: Path, interval: float = 0.001) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.path = path
        self.interval = interval
        self.target = threading.main_thread().ident
        self.top: defaultdict[str, float] = defaultdict(float)
        self.inclusive: defaultdict[str, float] = defaultdict(float)
        self.packages: defaultdict[str, float] = defaultdict(float)
        self.samples = 0
        self.seconds = 0.0
        self.gc = GcTimer()
        self.cpu_start = 0.0
        self.done = threading.Event()

    def start(self) -> None:
        self.cpu_start = time.process_time()
        gc.callbacks.append(self.gc)
        sys.setswitchinterval(0.0005)
        atexit.register(self.dump)
        super().start()

    def run(self) -> None:
        last = time.perf_counter()
        while not self.done.wait(self.interval):
            frame = sys._current_frames().get(self.target or 0)
            now = time.perf_counter()
            # Each sample stands for the time since the previous one: while the main thread
            # holds the GIL (C code, a collection) no sample is taken, and the wait must count.
            weight, last = now - last, now
            if frame is None:
                continue
            self.samples += 1
            self.seconds += weight
            self.top[_where(frame)] += weight
            self.packages[_package(frame.f_code.co_filename)] += weight
            on_stack: set[str] = set()
            current: FrameType | None = frame
            while current is not None:
                on_stack.add(_where(current))
                current = current.f_back
            for key in on_stack:
                self.inclusive[key] += weight

    def dump(self) -> None:
        self.done.set()
        data = {
            "samples": self.samples,
            "seconds": self.seconds,
            "cpu_seconds": time.process_time() - self.cpu_start,
            "gc_seconds": self.gc.seconds,
            "gc_collections": self.gc.collections,
            "packages": _ranked(self.packages),
            "top": _ranked(self.top, 40),
            "inclusive": _ranked(self.inclusive, 80),
        }
        self.path.write_text(json.dumps(data))


def print_profile(path: Path, requests: int) -> None:
    data = json.loads(path.read_text())
    seconds = max(1e-9, float(data["seconds"]))
    cpu, gc_seconds = float(data["cpu_seconds"]), float(data["gc_seconds"])
    print(
        f"\nserver profile: {data['samples']:,} stack samples over {seconds:.1f} s; "
        f"server CPU {cpu:.1f} s for about {requests:,} list requests "
        f"({cpu / max(1, requests) * 1e3:.2f} ms each, sampler included); "
        f"garbage collector {gc_seconds:.2f} s ({gc_seconds / max(1e-9, cpu):.0%} of the CPU; "
        f"collections per generation {data['gc_collections']})"
    )
    app_frames = ("agency/", "litestar/routes", "litestar/_kwargs")
    rankings = [
        (
            "where the main thread was (share of wall time), by package of the top frame:",
            data["packages"][:12],
        ),
        ("hottest functions (top frame):", data["top"][:20]),
        (
            "app and handler frames on the stack (inclusive; greenlet stacks start afresh):",
            [(name, w) for name, w in data["inclusive"] if name.startswith(app_frames)],
        ),
    ]
    for title, ranking in rankings:
        print(f"  {title}")
        for name, weight in ranking:
            print(f"    {weight / seconds:6.1%}  {name}")

"""What an uploaded image may cost to check: dimensions from the header, decoding bounded.

Memory is measured in a child process (its peak RSS, ``VmHWM``), so that nothing else the
test run did has raised the peak already.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import anyio
import httpx
import pytest
from PIL import Image

from agency.kernel.runtime import Runtime
from agency.media.inspection import MAX_IMAGE_PIXELS
from tests.conftest import Tenant, count_rows
from tests.helpers import assert_problem, create_brand

MEASURE = """
import json, sys
from pathlib import Path
from agency.media.inspection import inspect_file, InvalidMedia

def peak_kib():
    # VmHWM belongs to this process's memory map, new at exec; ru_maxrss would carry the
    # parent's peak over.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = peak_kib()
try:
    found = inspect_file(Path(sys.argv[1]))
    outcome = [found.width, found.height]
except InvalidMedia as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "grew_mib": (peak_kib() - before) / 1024}))
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgba_png(width: int, height: int) -> bytes:
    """A complete, valid RGBA PNG of transparent pixels: tiny on disk, width x height x 4
    bytes once decoded."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 4 * width)  # filter byte, then the pixels
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def _inspect_in_child(path: Path) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(rgba_png(9400, 9400))
    return path


def test_the_crafted_png_is_small_and_under_pillows_own_limit(bomb: Path) -> None:
    assert bomb.stat().st_size < 400_000
    assert (Image.MAX_IMAGE_PIXELS or 0) > 9400 * 9400  # why Pillow's check let it through


def test_a_png_declaring_88_megapixels_is_refused_before_decoding(bomb: Path) -> None:
    result = _inspect_in_child(bomb)
    assert "9400x9400" in str(result["outcome"]), result
    assert float(result["grew_mib"]) < 20, result  # decoding it would take 337 MiB


def test_a_large_jpeg_is_decoded_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    side = 6000  # 36 megapixels, just under the limit: 103 MiB decoded whole
    assert side * side <= MAX_IMAGE_PIXELS
    Image.new("RGB", (side, side), (200, 30, 90)).save(path, "JPEG", quality=80)
    result = _inspect_in_child(path)
    assert result["outcome"] == [side, side], result
    assert float(result["grew_mib"]) < 30, result


def test_a_corrupt_jpeg_is_still_refused_by_the_reduced_decode(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    Image.new("RGB", (800, 600), (10, 200, 90)).save(path, "JPEG", quality=80)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "does not decode" in str(_inspect_in_child(path)["outcome"])


async def test_the_upload_of_the_crafted_png_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Tenant, bomb: Path
) -> None:
    brand_id = await create_brand(client, tenant_a)
    content = await anyio.Path(bomb).read_bytes()
    response = await client.post(
        f"/brands/{brand_id}/media",
        files={"file": ("bomb.png", content, "image/png")},
        headers=tenant_a.headers,
    )
    body = assert_problem(response, 400, "9400x9400", "pixels")
    assert body["max_pixels"] == MAX_IMAGE_PIXELS
    assert await count_rows(runtime, "media") == 0

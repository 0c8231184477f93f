"""``enlighten_async.cli.plot`` through a subprocess, on a store filled by a short
simulated backfill."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.support.cli import (
    DAY1,
    DAY2,
    LA,
    RANGE,
    local_day,
    one_line_error,
    stored,
)
from tests.support.cli import (
    run_command as run,
)

pytestmark = pytest.mark.usefixtures("no_cli_env")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_renders_a_png_of_the_asked_size_that_is_not_blank(
    store_db: Path, tmp_path: Path
) -> None:
    image = pytest.importorskip("matplotlib.image")
    np = pytest.importorskip("numpy")
    out = tmp_path / "production.png"
    proc = run("plot", "--db", str(store_db), "--system", str(LA), *RANGE, "--out", str(out),
               "--width", "900", "--height", "500")  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    expected = sum(
        1 for r in stored(store_db, "stats", LA) if DAY1 <= local_day(int(r[1]), LA) <= DAY2
    )
    assert f"Drew {expected} intervals" in proc.stdout.decode()
    assert png_size(out) == (900, 500)
    pixels = image.imread(out)
    assert pixels.shape[:2] == (500, 900)
    colours = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
    assert len(colours) > 50  # lines, fills, bars and text, not one flat colour
    assert float(pixels[..., :3].std()) > 0.05
    # the power curve's orange and the energy bars' blue are both drawn
    rgb = (pixels[..., :3] * 255).round().astype(int)
    assert (np.abs(rgb - [255, 127, 14]).sum(axis=2) < 30).sum() > 500
    assert (np.abs(rgb - [31, 119, 180]).sum(axis=2) < 30).sum() > 500


def test_plot_of_an_empty_range_says_so_and_draws_nothing(store_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.png"
    proc = run("plot", "--db", str(store_db), "--system", str(LA), "--since", "2020-01-01",
               "--until", "2020-01-02", "--out", str(out))  # fmt: skip
    assert proc.returncode == 1
    assert "no production" in one_line_error(proc)
    assert not out.exists()


def test_plot_without_matplotlib_names_the_extra(store_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    proc = run("plot", "--db", str(store_db), "--system", str(LA), "--out", str(out),
               blocked=["matplotlib"])  # fmt: skip
    assert proc.returncode == 2
    assert "pip install 'enlighten-async[plot]'" in one_line_error(proc)
    assert not out.exists()


def test_a_file_that_is_not_a_store_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all\n" * 200)
    proc = run("plot", "--db", str(garbage), "--system", str(LA), "--out", str(tmp_path / "p.png"))
    assert proc.returncode == 3 and "garbage.db" in one_line_error(proc)

"""The distribution as an operator installs it: a wheel built from the checkout, used elsewhere."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import free_port

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this checkout (as the README says)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(CHECKOUT)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("ashiato-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment, outside the checkout, with only the wheel installed in it.

    The wheel's dependencies come from this test run's environment through a .pth file, so
    the test needs no download; `ashiato` itself can only come from the wheel.
    """
    home = tmp_path_factory.mktemp("elsewhere")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "deps-from-test-run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    yield venv


def _top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        (record_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        record = archive.read(record_name).decode()
    return {row[0].split("/", 1)[0] for row in csv.reader(io.StringIO(record)) if row}


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    names = _top_level_names(wheel)
    dist_info = {n for n in names if n.endswith(".dist-info")}
    assert names - dist_info == {"ashiato"}
    with zipfile.ZipFile(wheel) as archive:
        listed = set(archive.namelist())
    for part in ("collector", "beacon", "storage", "retention"):
        assert f"ashiato/{part}/__init__.py" in listed
    assert "ashiato/collector/static/t.js" in listed
    assert "ashiato/py.typed" in listed


def test_an_installed_wheel_serves_a_pixel_and_reads_it_back(installed: Path) -> None:
    bin_dir = installed / "bin"
    # A stray module named like one of our parts must not be picked up from the working dir.
    workdir = installed.parent / "work"
    workdir.mkdir()
    (workdir / "collector.py").write_text("raise SystemExit('the working directory ran')\n")
    (workdir / "ashiato.py").write_text("raise SystemExit('the working directory ran')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASHIATO_")}
    env.pop("PYTHONPATH", None)

    version = subprocess.run(
        [str(bin_dir / "ashiato"), "--version"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "ashiato 0.1.0"
    module = subprocess.run(
        [str(bin_dir / "python"), "-P", "-m", "ashiato", "--version"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert module.stdout == version.stdout

    data_dir = workdir / "var"
    port = free_port()
    server = subprocess.Popen(
        [str(bin_dir / "ashiato"), "serve", "--data-dir", str(data_dir), "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        with urllib.request.urlopen(f"{base}/b.gif?s=wheel&u=https%3A%2F%2Fa.example%2Fp") as r:
            assert r.headers["Content-Type"] == "image/gif"
        deadline = time.monotonic() + 30
        while True:
            query = subprocess.run(
                [
                    str(bin_dir / "ashiato"),
                    "sql",
                    "--data-dir",
                    str(data_dir),
                    "SELECT site, url FROM events",
                ],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert query.returncode == 0, query.stderr
            if "wheel\thttps://a.example/p" in query.stdout.splitlines():
                break
            assert time.monotonic() < deadline, query.stdout
            time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    assert "the working directory ran" not in out


def _wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            out = server.stdout.read() if server.stdout else ""
            raise AssertionError(f"serve did not come up: {out}")
        time.sleep(0.2)

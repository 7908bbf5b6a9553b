"""bqemulator (a DuckDB-backed BigQuery REST emulator from PyPI) for the BigQuery-path tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from apoa.emulator import free_port

PROJECT = "apoa-bq"


def install_spatial_extension() -> None:
    """bqemulator loads DuckDB's spatial extension; install it from its PyPI package's file
    (otherwise DuckDB tries to download it, which fails offline)."""
    import duckdb

    try:
        import duckdb_extension_spatial
    except ImportError:
        pytest.skip("duckdb-extension-spatial is not installed")
    path = (
        Path(duckdb_extension_spatial.__file__).parent
        / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    )  # fmt: skip
    duckdb.connect().install_extension(str(path))


class BigQueryEmulator:
    def __init__(self, log: Path) -> None:
        install_spatial_extension()
        bqemulator = Path(sys.executable).parent / "bqemulator"
        if not bqemulator.exists():
            pytest.fail("bqemulator is not installed (make install)")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "NO_GCE_CHECK": "true"}
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(
                [str(bqemulator), "start", "--project", PROJECT, "--rest-port", str(self.port),
                 "--grpc-port", str(free_port()), "--log-level", "warning"],
                env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bqemulator exited: {log.read_text()[-2000:]}")
            try:
                url = f"{self.endpoint}/bigquery/v2/projects/{PROJECT}/datasets"
                urllib.request.urlopen(url, timeout=1)
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("bqemulator did not start")

    def client(self):
        from ingest.bigquery_storage import bigquery_client

        return bigquery_client(PROJECT, self.endpoint)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()

"""Malformed records mixed into a valid stream: each one dead-lettered with its reason, every
valid event learned, the service healthy (see tests/reliability/bad_input.py). And the HTTP API
fuzzed from its OpenAPI schema with schemathesis: no 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.bad_input import check, run_bad_input
from tests.support.served import ROOT, Served


def test_bad_input_goes_to_the_dlq_with_its_reason(kafka_bootstrap: str, tmp_path: Path) -> None:
    res = run_bad_input(kafka_bootstrap, tmp_path, n_bad=10_000, n_valid=2000, per_class=150)
    assert res.bad_events >= 10_000 and res.hypothesis_events >= 1000
    assert set(res.expected_by_reason) >= {
        "empty",
        "oversized",
        "bad_encoding",
        "invalid_json",
        "invalid_schema",
        "non_finite",
        "wrong_dimensions",
        "unknown_feature",
        "unknown_label",
        "unmatched_label",
    }
    assert res.truncated >= 3  # the 10 MB payloads (and the other oversized ones)
    assert check(res) == []


def _schemathesis(url: str, *extra: str) -> tuple[int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "150",
            "--seed",
            "1",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-database",
            "none",
            "--no-color",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    m = re.search(r"(\d+) generated", proc.stdout)
    return (proc.returncode if m else -1), proc.stdout[-5000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("token", [None, "s3cret-token-0123"], ids=["open", "with-token"])
def test_http_api_fuzzed_from_its_openapi_schema_answers_no_5xx(
    tmp_path: Path, token: str | None
) -> None:
    env = {"STREAMLEARN_SNAPSHOT_DIR": str(tmp_path / "snaps"), "STREAMLEARN_RATE": "300"}
    headers = {}
    if token is not None:
        env["STREAMLEARN_API_TOKEN"] = token
        headers = {"Authorization": f"Bearer {token}"}
    svc = Served([], env, tmp_path / "serve.log")
    try:
        svc.wait_ready()
        deadline = time.monotonic() + 300
        body = {"x": [0.0] * 20}
        while httpx.post(f"{svc.url}/v1/predict", json=body, headers=headers).status_code != 200:
            assert time.monotonic() < deadline, svc.tail()
            time.sleep(0.2)  # a model exists: /v1/predict is fuzzed past its 503
        extra = ("-H", f"Authorization: Bearer {token}") if token else ()
        code, out = _schemathesis(svc.url, *extra)
        assert code == 0, out
        n = int(re.search(r"(\d+) generated", out).group(1))
        assert n >= 200, out  # every operation was exercised
        assert svc.get("/health").status_code == 200 and svc.ready_status() == 200
    finally:
        assert svc.terminate() == 0

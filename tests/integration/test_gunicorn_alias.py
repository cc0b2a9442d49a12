"""narwhal-install-gunicorn-alias: a `gunicorn` command that runs narwhal, installed on request
(into a temporary directory here; by default, the environment's scripts directory)."""

import os
from pathlib import Path

import pytest

from harness import narwhal_python


def output(proc):
    return proc.stdout + proc.stderr


@pytest.fixture
def installer():
    python, env = narwhal_python()
    script = Path(python).parent / "narwhal-install-gunicorn-alias"
    if not script.exists():
        pytest.fail("%s is missing: is narwhal installed with pip (make install)?" % script)
    return [python, str(script)], env


def test_alias_runs_narwhal(cli, installer, server_factory, tmp_path):
    command, env = installer
    p = cli("--bin-dir", str(tmp_path), command=command, env=env, timeout=20)
    assert p.returncode == 0, output(p)
    alias = tmp_path / "gunicorn"
    assert os.access(alias, os.X_OK)
    assert "installed %s" % alias in p.stdout

    p = cli("--version", command=[str(alias)], env=env, timeout=20)
    assert p.returncode == 0 and "narwhal (version" in p.stdout, output(p)

    # a script calling `gunicorn -w 2 module:app` switches without edits
    server = server_factory("-w", "2", "wsgi_basic:app", command=[str(alias)], env=env)
    response = server.get("/hello")
    assert response.status_code == 200 and response.text == "hello"
    assert response.headers["Server"] == "narwhal"
    assert "Starting narwhal" in server.stderr_text()


def test_an_existing_gunicorn_is_never_replaced_without_force(cli, installer, tmp_path):
    command, env = installer
    real = tmp_path / "gunicorn"
    real.write_text("#!/bin/sh\necho the real gunicorn\n")
    p = cli("--bin-dir", str(tmp_path), command=command, env=env, timeout=20)
    assert p.returncode == 1 and "is not narwhal's alias" in p.stderr, output(p)
    assert real.read_text().endswith("the real gunicorn\n")
    p = cli("--bin-dir", str(tmp_path), "--remove", command=command, env=env, timeout=20)
    assert p.returncode == 1 and real.exists(), output(p)

    p = cli("--bin-dir", str(tmp_path), "--force", command=command, env=env, timeout=20)
    assert p.returncode == 0, output(p)
    p = cli("--bin-dir", str(tmp_path), command=command, env=env, timeout=20)  # ours: replaced again
    assert p.returncode == 0, output(p)
    p = cli("--bin-dir", str(tmp_path), "--remove", command=command, env=env, timeout=20)
    assert p.returncode == 0 and not real.exists(), output(p)

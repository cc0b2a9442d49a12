"""Worker classes from the registry (src/workers/registry.cpp), and nothing accepted silently
ignored: refused settings stop the start-up, settings with no effect yet log one warning."""

import re
import shutil

import pytest

from harness import APPS_DIR, free_port

KNOWN = "known worker classes: sync, gthread, gevent, asgi ("


def output(proc):
    return proc.stdout + proc.stderr


def refused(cli, *args, cwd=APPS_DIR):
    p = cli("-b", "127.0.0.1:%d" % free_port(), *args, "wsgi_basic:app", cwd=cwd, timeout=15)
    assert p.returncode != 0, output(p)
    assert "Traceback" not in output(p)
    assert "Listening at" not in output(p), output(p)  # refused before binding
    return p.stderr


# --------------------------------------------------------------------------- worker classes
@pytest.mark.parametrize("name", ["sync", "gunicorn.workers.sync.SyncWorker", "egg:gunicorn#sync",
                                  "gthread", "gunicorn.workers.gthread.ThreadWorker", "egg:gunicorn#gthread",
                                  "gevent", "gunicorn.workers.ggevent.GeventWorker", "gevent_pywsgi"])
def test_available_names_serve(server_factory, name):
    srv = server_factory("-k", name, "-w", "1", "wsgi_basic:app")
    assert srv.get("/env").status_code == 200
    srv.wait_for_stderr("Using worker: %s" % name)  # gunicorn's worker_class_str


@pytest.mark.parametrize("name, why", [
    ("mypkg.MyWorker", "narwhal runs its workers in C++ and cannot load Python worker classes"),
    ("nonsense", "unknown worker class 'nonsense'"),
    ("eventlet", "is not provided by narwhal"),
])
def test_other_worker_classes_are_refused(cli, name, why):
    err = refused(cli, "-k", name)
    assert why in err, err
    assert KNOWN in err, err
    assert "'%s'" % name in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one clear line


def test_threads_select_gthread(server_factory):
    srv = server_factory("--threads", "4", "-w", "1", "wsgi_basic:app")
    assert srv.get("/env").status_code == 200
    srv.wait_for_stderr("Using worker: gthread")


def test_python_class_object_in_config_file_is_refused(cli, tmp_path):
    shutil.copy(APPS_DIR / "wsgi_basic.py", tmp_path / "wsgi_basic.py")
    (tmp_path / "gunicorn.conf.py").write_text(
        "class MyWorker:\n    pass\n\nworker_class = MyWorker\n")
    err = refused(cli, cwd=tmp_path)
    assert "cannot load Python worker classes" in err, err
    assert "MyWorker" in err, err


# --------------------------------------------------------------------------- refused settings
def test_h2_with_the_sync_worker_is_refused(cli):
    err = refused(cli, "--http-protocols", "h2,h1")
    assert "http_protocols (--http-protocols) listing h2 with the sync worker" in err, err
    assert "use -k gthread, gevent or asgi" in err, err


def test_refused_setting_from_config_file(cli, tmp_path):
    shutil.copy(APPS_DIR / "wsgi_basic.py", tmp_path / "wsgi_basic.py")
    (tmp_path / "gunicorn.conf.py").write_text("http2_cleartext = 'upgrade'\n")
    err = refused(cli, cwd=tmp_path)
    assert "setting http2_cleartext (--http2-cleartext) upgrade is not supported" in err, err


# --------------------------------------------------------------------------- ignored settings
def test_ignored_settings_from_config_file_warn_once_and_serve(server_factory, tmp_path):
    shutil.copy(APPS_DIR / "wsgi_basic.py", tmp_path / "wsgi_basic.py")
    (tmp_path / "gunicorn.conf.py").write_text(
        "ciphers = 'HIGH'\n"
        "suppress_ragged_eofs = True\n"  # its default: no warning
        "tmp_upload_dir = '/tmp'\n"
        "workers = 1\n")
    srv = server_factory("wsgi_basic:app", cwd=tmp_path)
    assert srv.get("/env").status_code == 200
    srv.wait_for_stderr("Booting worker")
    err = srv.stderr_text()
    warnings = [line for line in err.splitlines() if "[WARNING]" in line]
    assert not any("ciphers" in w for w in warnings), err  # honoured (used once TLS is on)
    assert len([w for w in warnings if "tmp_upload_dir" in w]) == 1, err
    assert any(re.search(r"setting tmp_upload_dir has no effect in narwhal yet", w) for w in warnings), err
    assert not any("suppress_ragged_eofs" in w for w in warnings), err
    assert not any("workers" in w for w in warnings), err


def test_ignored_setting_from_env_warns(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app",
                         env={"GUNICORN_CMD_ARGS": "--worker-tmp-dir /tmp"})
    srv.wait_for_stderr("setting worker_tmp_dir has no effect in narwhal yet")


def test_default_settings_warn_about_nothing(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    assert srv.get("/env").status_code == 200
    srv.wait_for_stderr("Booting worker")
    assert "has no effect in narwhal" not in srv.stderr_text()


def test_print_config_marks_unsupported_settings(cli):
    p = cli("--print-config", "wsgi_basic:app", timeout=15)
    assert p.returncode == 0, output(p)
    assert re.search(r"^tmp_upload_dir\s+= None  # no effect in narwhal yet$", p.stdout, re.M), p.stdout
    assert re.search(r"^logconfig\s+= None$", p.stdout, re.M), p.stdout  # honoured since issue 15
    assert re.search(r"^certfile\s+= None$", p.stdout, re.M), p.stdout  # honoured: no mark
    assert re.search(r"^workers\s+= 1$", p.stdout, re.M), p.stdout

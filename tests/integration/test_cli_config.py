"""Command line, configuration files and precedence, app loading."""

import re
import shutil
import time

import pytest

from harness import APPS_DIR, free_port


def output(proc):
    return proc.stdout + proc.stderr


def setting_line(text, name):
    m = re.search(r"^%s\s+=\s*(.*)$" % re.escape(name), text, re.M)
    assert m, "no `%s = ...` line in:\n%s" % (name, text)
    return m.group(1).strip()


@pytest.fixture
def app_dir(tmp_path):
    """A fresh cwd holding a copy of the basic app (and no gunicorn.conf.py)."""
    shutil.copy(APPS_DIR / "wsgi_basic.py", tmp_path / "wsgi_basic.py")
    return tmp_path


# --------------------------------------------------------------------------- info flags
def test_version(cli):
    p = cli("--version", timeout=10)
    assert p.returncode == 0, output(p)
    assert re.search(r"\d+\.\d+", output(p)), output(p)
    assert "narwhal" in output(p).lower()


def test_print_config_defaults(cli, app_dir):
    p = cli("--print-config", "wsgi_basic:app", cwd=app_dir, timeout=15)
    assert p.returncode == 0, output(p)
    assert re.search(r"^workers\s+= 1$", p.stdout, re.M), p.stdout
    for name in ("bind", "timeout", "keepalive", "graceful_timeout", "worker_class",
                 "forwarded_allow_ips", "limit_request_line"):
        setting_line(p.stdout, name)


def test_check_config_good_app(cli):
    p = cli("--check-config", "wsgi_basic:app", timeout=15)
    assert p.returncode == 0, output(p)


def test_check_config_broken_app(cli):
    p = cli("--check-config", "broken_app:app", timeout=15)
    assert p.returncode != 0
    assert "narwhal-test-broken-import" in output(p)


# --------------------------------------------------------------------------- config files
def test_gunicorn_conf_py_in_cwd(server_factory, app_dir):
    port = free_port()
    (app_dir / "gunicorn.conf.py").write_text(
        "bind = '127.0.0.1:%d'\nworkers = 2\nunknown_name = 'x'\n" % port)
    srv = server_factory("wsgi_basic:app", cwd=app_dir, bind=False, port=port)
    env = srv.get("/env").json()
    assert env["reprs"]["wsgi.multiprocess"] == "True"   # workers = 2 took effect
    assert env["env"]["SERVER_PORT"] == str(port)


def test_config_file_via_dash_c(server_factory, tmp_path):
    port = free_port()
    conf = tmp_path / "conf" / "myconf.py"
    conf.parent.mkdir()
    conf.write_text("bind = ['127.0.0.1:%d']\nworkers = 2\nraw_env = ['SCRIPT_NAME=/cfg']\n"
                    % port)
    srv = server_factory("-c", str(conf), "wsgi_basic:app", bind=False, port=port)
    env = srv.get("/cfg/env").json()
    assert env["reprs"]["wsgi.multiprocess"] == "True"
    assert env["env"]["SCRIPT_NAME"] == "/cfg"
    assert env["env"]["PATH_INFO"] == "/env"


def test_precedence_default_file_env_cli(cli, app_dir):
    def workers(*args, env=None):
        p = cli("--print-config", *args, "wsgi_basic:app", cwd=app_dir, env=env, timeout=15)
        assert p.returncode == 0, output(p)
        return setting_line(p.stdout, "workers")

    assert workers() == "1"                                           # default
    assert workers(env={"GUNICORN_CMD_ARGS": "--workers 3"}) == "3"   # env > default
    (app_dir / "gunicorn.conf.py").write_text("workers = 2\ntimeout = 77\n")
    assert workers() == "2"                                           # file > default
    assert workers(env={"GUNICORN_CMD_ARGS": "--workers 3"}) == "3"   # env > file
    assert workers("-w", "4", env={"GUNICORN_CMD_ARGS": "--workers 3"}) == "4"  # cli > env
    assert workers("-w", "4") == "4"                                  # cli > file
    p = cli("--print-config", "wsgi_basic:app", cwd=app_dir, timeout=15)
    assert setting_line(p.stdout, "timeout") == "77"


def test_bad_value_in_config_file(cli, app_dir):
    (app_dir / "gunicorn.conf.py").write_text("workers = 'abc'\n")
    p = cli("-b", "127.0.0.1:%d" % free_port(), "wsgi_basic:app", cwd=app_dir, timeout=15)
    assert p.returncode == 1, output(p)
    assert "workers" in p.stderr and "abc" in p.stderr, p.stderr
    assert "Traceback" not in output(p)


def test_bad_value_on_command_line(cli):
    p = cli("-b", "127.0.0.1:%d" % free_port(), "-w", "abc", "wsgi_basic:app", timeout=15)
    assert p.returncode in (1, 2), output(p)
    assert "abc" in p.stderr and ("workers" in p.stderr or "-w" in p.stderr), p.stderr
    assert "Traceback" not in output(p)


# --------------------------------------------------------------------------- app loading
APP_FORMS = [
    ("forms_app", {"label": "application", "args": [], "kwargs": {}}),
    ("forms_app:app", {"label": "app", "args": [], "kwargs": {}}),
    ("forms_app:create_app()", {"label": "factory", "args": [], "kwargs": {}}),
    ('forms_app:create_app("x", n=1)', {"label": "factory", "args": ["x"], "kwargs": {"n": 1}}),
]


@pytest.mark.parametrize("spec,expected", APP_FORMS, ids=[f[0] for f in APP_FORMS])
def test_app_module_forms(server_factory, spec, expected):
    srv = server_factory("-w", "1", spec)
    assert srv.get("/").json() == expected


def test_chdir(server_factory, tmp_path):
    srv = server_factory("-w", "1", "--chdir", str(APPS_DIR), "wsgi_basic:app", cwd=tmp_path)
    assert srv.get("/hello").text == "hello"


def test_pythonpath(server_factory, tmp_path):
    srv = server_factory("-w", "1", "--pythonpath", str(APPS_DIR), "wsgi_basic:app",
                         cwd=tmp_path)
    assert srv.get("/hello").text == "hello"


@pytest.mark.parametrize("spec,needle", [
    ("broken_app:app", "narwhal-test-broken-import"),
    ("no_such_module_xyz:app", "no_such_module_xyz"),
    ("wsgi_basic:no_such_attribute", "no_such_attribute"),
])
def test_unloadable_app_exits_quickly(cli, spec, needle):
    start = time.monotonic()
    p = cli("-w", "2", "-b", "127.0.0.1:%d" % free_port(), spec, timeout=20)
    elapsed = time.monotonic() - start
    assert p.returncode != 0, output(p)
    assert needle in output(p), output(p)
    assert elapsed < 15, "took %.1fs (respawn loop?)" % elapsed

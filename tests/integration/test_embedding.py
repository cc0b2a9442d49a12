"""Embedding narwhal as gunicorn's "custom application" (narwhal.app.base): real scripts run as
subprocesses (apps/embed_standalone.py, apps/embed_application.py), serving real HTTP.

The scripts follow gunicorn's documented patterns with only the import changed:
BaseApplication with an options dict fed to self.cfg.set() in load_config() and load()
returning the WSGI callable; Application whose init(parser, opts, args) returns settings that
the config file, the environment and the command line then override.
"""

import json
import os
import re
import signal

import pytest

from harness import APPS_DIR, free_port, narwhal_python, wait_until


def output(proc):
    return proc.stdout + proc.stderr


def answer(server):
    response = server.get("/")
    assert response.status_code == 200, response.text
    return response.json()


def booted(server):
    return server.stderr_text().count("Booting worker")


@pytest.fixture
def standalone(server_factory, tmp_path):
    """standalone(options, start=True) -> the server running embed_standalone.py with `options`
    (bind added) in a directory without config file; .options_file can be rewritten."""

    def start(options, start=True, port=None):
        port = port or free_port()
        options = dict({"bind": "127.0.0.1:%d" % port}, **options)
        path = tmp_path / "options.json"
        path.write_text(json.dumps(options))
        python, env = narwhal_python()
        server = server_factory(str(path), cwd=tmp_path, env=env, bind=False, port=port, start=start,
                                command=[python, str(APPS_DIR / "embed_standalone.py")])
        server.options_file = path
        return server

    return start


def run_script(cli, script, *args, cwd, env=None):
    python, python_env = narwhal_python()
    python_env.update(env or {})
    return cli(*args, cwd=cwd, env=python_env, command=[python, str(APPS_DIR / script)], timeout=20)


# --------------------------------------------------------------------------- BaseApplication
def test_base_application_serves_the_object_load_returns(standalone):
    server = standalone({"workers": 2})
    body = answer(server)
    assert body["loaded_in"] == body["pid"] != server.pid  # load() ran in the worker
    assert body["cfg"] == {"workers": 2, "bind": ["127.0.0.1:%d" % server.port],
                           "proc_name": "narwhal"}
    wait_until(lambda: booted(server) == 2, message="2 workers")
    assert "Starting narwhal" in server.stderr_text()


def test_preload_app_loads_in_the_master(standalone):
    server = standalone({"workers": 1, "preload_app": True})
    body = answer(server)
    assert body["loaded_in"] == server.pid != body["pid"]


def test_options_are_settings_like_a_config_file(standalone):
    server = standalone({"workers": "1", "raw_env": ["GREETING=hello"], "proc_name": "embedded",
                         "keepalive": 7, "not_a_setting": "ignored by the pattern's filter"})
    assert answer(server)["greeting"] == "hello"
    with open("/proc/%d/cmdline" % server.pid, "rb") as f:
        assert f.read().split(b"\0")[0] == b"narwhal: master [embedded]"


def test_invalid_value_is_refused_with_the_tables_message(standalone):
    server = standalone({"workers": "many"}, start=False)
    server._spawn()
    assert server.proc.wait(20) == 1
    assert "Error: Invalid value for workers: 'many' (expected a positive integer)" in server.stderr_text()


def test_unknown_setting_in_cfg_set_is_an_error(standalone):
    server = standalone({"set_unknown": True}, start=False)
    server._spawn()
    assert server.proc.wait(20) == 1
    assert "Error: No configuration setting for: no_such_setting" in server.stderr_text()


def test_hooks_as_options(standalone):
    server = standalone({"workers": 2, "when_ready_hook": True})
    answer(server)
    server.wait_for_stderr("when_ready hook: 2 workers")


def test_hup_runs_load_config_again(standalone):
    server = standalone({"workers": 1, "raw_env": ["GREETING=before"]})
    assert answer(server)["greeting"] == "before"
    options = json.loads(server.options_file.read_text())
    options["raw_env"] = ["GREETING=after"]
    server.options_file.write_text(json.dumps(options))
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: answer(server)["greeting"] == "after", timeout=15, message="the reloaded options")


def test_hup_with_a_bad_value_keeps_the_running_settings(standalone):
    server = standalone({"workers": 1, "raw_env": ["GREETING=kept"]})
    assert answer(server)["greeting"] == "kept"
    server.options_file.write_text(json.dumps({"bind": "127.0.0.1:%d" % server.port, "workers": "x"}))
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_stderr("Error: Invalid value for workers: 'x' (expected a positive integer)")
    assert server.proc.poll() is None  # gunicorn's master would exit; narwhal keeps serving
    assert answer(server)["greeting"] == "kept"


def parent_pid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_usr2_re_executes_the_script(standalone, tmp_path):
    pidfile = tmp_path / "embedded.pid"
    server = standalone({"workers": 1, "pidfile": str(pidfile)})
    answer(server)
    server.proc.send_signal(signal.SIGUSR2)  # the new master runs `python embed_standalone.py ...` again
    new = wait_until(lambda: pidfile.with_name("embedded.pid.2").exists() and
                     int(pidfile.with_name("embedded.pid.2").read_text()), 15, message="<pidfile>.2")
    assert parent_pid(new) == server.pid
    wait_until(lambda: booted(server) == 2, 15, message="the new master's worker")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    body = wait_until(lambda: answer(server), message="an answer from the new master's worker")
    assert parent_pid(body["pid"]) == new
    os.kill(new, signal.SIGTERM)
    wait_until(lambda: not os.path.exists("/proc/%d" % new) or
               open("/proc/%d/stat" % new).read().rsplit(")", 1)[1].split()[0] == "Z",
               10, message="the new master to exit")


def test_term_stops_it_with_status_0(standalone):
    server = standalone({"workers": 1})
    answer(server)
    assert server.terminate() == 0
    assert "Shutting down: Master" in server.stderr_text()


# --------------------------------------------------------------------------- Application
@pytest.fixture
def application(server_factory, tmp_path):
    def start(*args, env=None):
        port = free_port()
        python, python_env = narwhal_python()
        python_env.update(env or {})
        return server_factory("-b", "127.0.0.1:%d" % port, *args, cwd=tmp_path, env=python_env, bind=False,
                              port=port, command=[python, str(APPS_DIR / "embed_application.py")])

    return start


def test_application_init_gets_the_command_line(application):
    server = application("first", "second")
    assert answer(server) == {"greeting": "from-init", "args": "first,second", "opt_workers": "None",
                              "workers": 1}


def test_application_command_line_overrides_init(application):
    server = application("-w", "2", "-e", "GREETING=command-line", "arg")
    body = answer(server)
    assert body["workers"] == 2 and body["greeting"] == "command-line"
    wait_until(lambda: booted(server) == 2, message="2 workers")


def test_application_config_file_and_environment_between(application, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 3\nraw_env = ['GREETING=config-file']\n")
    server = application(env={"GUNICORN_CMD_ARGS": "--workers 2"})
    body = answer(server)
    # init() < config file < GUNICORN_CMD_ARGS < command line, as gunicorn's Application
    assert body["greeting"] == "config-file" and body["workers"] == 2


def test_application_print_config_and_version(cli, tmp_path):
    p = run_script(cli, "embed_application.py", "--print-config", cwd=tmp_path)
    assert p.returncode == 0, output(p)
    assert re.search(r"^workers\s+= 1$", p.stdout, re.M), p.stdout
    p = run_script(cli, "embed_application.py", "--version", cwd=tmp_path)
    assert p.returncode == 0 and "narwhal (version" in p.stdout, output(p)
    p = run_script(cli, "embed_application.py", "--workers", "x", cwd=tmp_path)
    assert p.returncode == 2 and "argument -w/--workers: invalid int value: 'x'" in p.stderr, output(p)

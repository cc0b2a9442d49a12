"""PasteDeploy: --paste / --paster (``paste``), --paste-global (``raw_paste_global_conf``) and
narwhal as a PasteDeploy server (``use = egg:narwhal#main``), against gunicorn 20.1's behaviour:
gunicorn/app/wsgiapp.py (init, load_pasteapp) and gunicorn/app/pasterapp.py (get_wsgi_app, serve).

A real ini file in a temporary directory, a real factory (apps/paste_factory.py) loaded by
PasteDeploy's loadapp (Debian: python3-pastedeploy), real HTTP.
"""

import json
import re
import textwrap

import pytest

from harness import APPS_DIR, free_port, narwhal_python, wait_until

INI = """\
[DEFAULT]
who = world

[app:main]
use = call:paste_factory:app_factory
greeting = hello

[app:admin]
use = call:paste_factory:app_factory
greeting = admin of %(who)s

# gunicorn 20.1 does not read the server section with --paste: neither does narwhal.
[server:main]
use = egg:narwhal#main
host = 127.0.0.1
port = 1
workers = 3
"""


def output(proc):
    return proc.stdout + proc.stderr


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")[0].decode()


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "production.ini"
    path.write_text(INI)
    return path


def answer(server):
    response = server.get("/")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("preload", [False, True], ids=["in-worker", "preload"])
def test_paste_serves_the_main_app_with_the_default_section(server_factory, ini, preload):
    args = ["--paste", str(ini)] + (["--preload"] if preload else [])
    server = server_factory(*args)
    body = answer(server)
    assert body["local_conf"] == {"greeting": "hello"}
    assert body["global_conf"]["who"] == "world"
    assert body["global_conf"]["__file__"] == str(ini)
    assert body["global_conf"]["here"] == str(ini.parent)
    # preload_app: loaded once in the master; else in the worker serving the request
    assert (body["loaded_in"] != body["pid"]) == preload
    assert body["loaded_in"] == (server.pid if preload else body["pid"])
    assert cmdline(server.pid) == "narwhal: master [%s]" % ini  # gunicorn: default_proc_name


def test_paster_flag_and_a_named_app_section(server_factory, ini):
    server = server_factory("--paster", str(ini) + "#admin")
    body = answer(server)
    assert body["local_conf"] == {"greeting": "admin of world"}


def test_paste_global_variables_reach_the_factory(server_factory, ini):
    server = server_factory("--paste", "%s#admin" % ini, "--paste-global", "who=you",
                            "--paste-global", "extra=a=b", "--paste-global", r"odd\=key=v\=1")
    global_conf = answer(server)["global_conf"]
    assert global_conf["who"] == "you"  # global_conf overrides the file's [DEFAULT]
    assert global_conf["extra"] == "a=b"  # split at the first '='
    assert global_conf["odd=key"] == "v=1"  # '\=' is a literal '='


def test_relative_path_and_the_server_section_is_ignored(server_factory, ini):
    server = server_factory("--paste", "production.ini", "-w", "1", cwd=ini.parent,
                            env={"PYTHONPATH": str(APPS_DIR)})
    assert answer(server)["global_conf"]["__file__"] == str(ini)
    # [server:main] says workers = 3 and port 1: like gunicorn, only the command line counts
    assert server.stderr_text().count("Booting worker") == 1


def test_app_module_given_as_well_is_ignored_with_a_warning(server_factory, ini):
    server = server_factory("--paste", str(ini), "wsgi_basic:app")
    assert answer(server)["local_conf"] == {"greeting": "hello"}  # gunicorn serves the paste app
    assert re.search(r"\[WARNING\] APP_MODULE wsgi_basic:app is ignored: --paste .*production.ini loads",
                     server.stderr_text()), server.stderr_text()


def test_paste_from_a_config_file(server_factory, ini):
    (ini.parent / "gunicorn.conf.py").write_text(
        "paste = %r\nraw_paste_global_conf = ['who=config']\n" % (str(ini) + "#admin"))
    server = server_factory(cwd=ini.parent, env={"PYTHONPATH": str(APPS_DIR)})
    body = answer(server)
    assert body["local_conf"] == {"greeting": "admin of world"}
    assert body["global_conf"]["who"] == "config"


def test_hup_reloads_the_paste_app(server_factory, ini):
    server = server_factory("--paste", str(ini))
    assert answer(server)["local_conf"] == {"greeting": "hello"}
    ini.write_text(INI.replace("greeting = hello", "greeting = reloaded"))
    server.proc.send_signal(1)  # SIGHUP: new workers load the file again
    wait_until(lambda: answer(server)["local_conf"] == {"greeting": "reloaded"}, timeout=15,
               message="the reloaded app")


def test_missing_file_is_a_clear_error(cli, tmp_path):
    p = cli("--paste", "missing.ini", cwd=tmp_path, timeout=15)
    assert p.returncode == 1, output(p)
    # gunicorn 20.1: "\nError: '/abs/missing.ini' not found", exit status 1
    assert "Error: %r not found" % str(tmp_path / "missing.ini") in p.stderr, output(p)
    p = cli("--paste", "missing.ini#admin", cwd=tmp_path, timeout=15)
    assert "Error: %r not found" % str(tmp_path / "missing.ini") in p.stderr, output(p)


def test_missing_app_section_fails_the_worker(cli, ini):
    p = cli("--paste", str(ini) + "#nosuch", "--check-config", timeout=20)
    assert p.returncode != 0, output(p)
    assert "nosuch" in output(p), output(p)


def test_bad_global_conf_is_refused(cli, ini):
    p = cli("--paste", str(ini), "--paste-global", "novalue", timeout=15)
    assert p.returncode == 1, output(p)
    assert ("Error: Invalid value for raw_paste_global_conf (--paste-global): 'novalue' "
            "(expected a list of KEY=VALUE strings") in p.stderr, output(p)


def test_loggers_section_sets_logconfig_like_gunicorn(cli, ini):
    ini.write_text(INI + "\n[loggers]\nkeys = root\n")
    p = cli("--paste", str(ini), "--print-config", timeout=15)
    assert p.returncode == 0, output(p)
    assert re.search(r"^logconfig\s+= %s" % re.escape(str(ini)), p.stdout, re.M), p.stdout
    p = cli("--paste", str(ini), "--log-config", "/dev/null", "--print-config", timeout=15)
    assert re.search(r"^logconfig\s+= /dev/null", p.stdout, re.M), p.stdout  # the command line wins


def test_check_config_loads_the_paste_app(cli, ini):
    p = cli("--paste", str(ini), "--check-config", timeout=20)
    assert p.returncode == 0, output(p)


# --------------------------------------------------------------------------- egg:narwhal#main
SERVE_SCRIPT = """\
import os, sys
from paste.deploy import loadapp, loadserver

# What `pserve production.ini` does: the server and the app of the file, then server(app).
uri = "config:" + os.path.abspath(sys.argv[1])
loadserver(uri)(loadapp(uri))
"""


def test_narwhal_as_the_paste_server_applies_the_server_section(server_factory, ini, tmp_path):
    port = free_port()
    ini.write_text(INI.replace("port = 1", "port = %d" % port).replace("workers = 3", textwrap.dedent("""\
        workers = 2
        proc_name = pasted""")))
    (tmp_path / "pserve.py").write_text(SERVE_SCRIPT)
    python, env = narwhal_python()
    env["PYTHONPATH"] = str(APPS_DIR)
    server = server_factory(str(ini), cwd=tmp_path, env=env, bind=False, port=port,
                            command=[python, str(tmp_path / "pserve.py")])
    body = answer(server)
    assert body["local_conf"] == {"greeting": "hello"}
    text = server.stderr_text()
    assert "Listening at: http://127.0.0.1:%d" % port in text, text  # host and port → bind
    wait_until(lambda: server.stderr_text().count("Booting worker") == 2, message="2 workers")
    assert cmdline(server.pid) == "narwhal: master [pasted]"  # any other key is a setting


def test_paste_server_default_proc_name_is_the_file(server_factory, ini, tmp_path):
    port = free_port()
    ini.write_text(INI.replace("port = 1", "port = %d" % port).replace("workers = 3", "workers = 1"))
    (tmp_path / "pserve.py").write_text(SERVE_SCRIPT)
    python, env = narwhal_python()
    env["PYTHONPATH"] = str(APPS_DIR)
    server = server_factory(str(ini), cwd=tmp_path, env=env, bind=False, port=port,
                            command=[python, str(tmp_path / "pserve.py")])
    assert answer(server)["local_conf"] == {"greeting": "hello"}
    assert cmdline(server.pid) == "narwhal: master [%s]" % ini


def test_paste_server_refuses_an_unknown_key(cli, ini, tmp_path):
    ini.write_text(INI.replace("workers = 3", "no_such_setting = 1"))
    (tmp_path / "pserve.py").write_text(SERVE_SCRIPT)
    python, env = narwhal_python()
    env["PYTHONPATH"] = str(APPS_DIR)
    p = cli(str(ini), cwd=tmp_path, env=env, command=[python, str(tmp_path / "pserve.py")], timeout=20)
    assert p.returncode == 1, output(p)
    assert "Error: No configuration setting for: no_such_setting" in p.stderr, output(p)

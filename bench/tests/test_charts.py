"""bench/charts.py, the RESULTS.md table reader and the suite's results.json + chart links.

No server, no wrk, ~3 s:  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests   (or make bench-test)
Not part of `make test`: chart tests need python3-matplotlib (bench/install-deps.sh) and skip without it.
"""
import copy
import json
import os
import sys
import types
import xml.etree.ElementTree as ElementTree

import pytest

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [BENCH, os.path.join(BENCH, "lib")]
import charts  # noqa: E402
import suite  # noqa: E402
import suite_tables  # noqa: E402

needs_matplotlib = pytest.mark.skipif(charts.missing() is not None, reason="python3-matplotlib not installed")
SVG = "{http://www.w3.org/2000/svg}"


def row(workload, server, rps, server_us, runs=None, **extra):
    return {"workload": workload, "server": server, "rps": rps, "rps_runs": runs or [rps * 0.98, rps, rps * 1.01],
            "p50_ms": 0.8, "p99_ms": 2.5, "server_us": server_us, "server_busy": 0.97, "wrk_us": 14.0, "wrk_busy": 0.8,
            "server_core": [0.98, 0.27], "client_core": [0.9, 0.24], "other_busy": 0.0, "errors": 0,
            "rss_idle": [15667.2, [12595.2]], "rss_after": [15667.2, [12697.6]], "idle_mode": "poll", **extra}


def idle_row(server, without, with_, rss):
    return {"workload": "idle-1000", "server": server, "idle_open": 1000, "idle_failed": 0, "idle_still_open": 1000,
            "without": {"rps": without, "server_us": 15.0, "p99_ms": 2.0},
            "with": {"rps": with_, "server_us": 16.0, "p99_ms": 3.0},
            "rss_worker_before_kb": rss[0], "rss_worker_idle_kb": rss[1], "rss_worker_after_kb": rss[2]}


SCALE_ONE, SCALE_TWO = suite_tables.SCALE_BASELINE, "narwhal -w 2 (cores 0,1; wrk -t2 cores 0,1)"
DOCUMENT = {
    "format": 1, "source": "bench/suite.py", "title": "2026-12-04 10:00 UTC — benchmark suite (bench/suite.py)",
    "started": "2026-12-04T10:00:00+00:00", "finished": "2026-12-04T10:07:00+00:00", "stamp": "2026-12-04T1000Z",
    "commit": "abc1234", "src_dirty": False, "machine": "Linux vm 6.18 x86_64", "cpus": 2, "cpu_model": "AMD EPYC",
    "method": {"server_cpu": "0", "client_cpu": "1", "warmup_s": 1, "runs": 3, "duration_s": 5, "idle_mode": "poll",
               "idle_connections": 1000},
    "workloads": {
        "hello-keepalive": {"title": suite_tables.TITLES["hello-keepalive"], "baseline": "gunicorn-sync", "rows": [
            row("hello-keepalive", "narwhal", 61234.0, 15.4),
            row("hello-keepalive", "gunicorn-sync", 4567.0, 220.5),
            row("hello-keepalive", "uwsgi", 9876.0, 101.3),
            {"workload": "hello-keepalive", "server": "nginx", "skip": "failed to start"},
        ]},
        "flask-json": {"title": suite_tables.TITLES["flask-json"], "baseline": "gunicorn-sync", "rows": [
            row("flask-json", "narwhal", 6012.0, 160.2), row("flask-json", "gunicorn-sync", 2485.0, 397.7)]},
        "idle": {"title": suite_tables.IDLE_TITLE.format(n=1000), "baseline": None, "rows": [
            idle_row("narwhal", 58715.0, 62564.0, (12595.2, 30720.0, 30822.4)),
            idle_row("gunicorn-gthread", 4824.0, 2338.0, (26214.4, 47923.2, 48435.2))]},
        "scaling": {"title": suite_tables.TITLES["scaling"], "baseline": SCALE_ONE, "rows": [
            row("scale-heavy", SCALE_ONE, 812.0, 1201.5), row("scale-heavy", SCALE_TWO, 1544.0, 1230.9)]},
    },
    "targets": [],
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The fixture document's charts, rendered once for the tests that read them."""
    directory = tmp_path_factory.mktemp("run")
    path = directory / "results.json"
    path.write_text(json.dumps(DOCUMENT))
    return directory, charts.render(str(path))


def texts(svg_path):
    """All text of an SVG (parsed as XML: a broken file fails here)."""
    root = ElementTree.parse(svg_path).getroot()
    assert root.tag == SVG + "svg"
    return " ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))


@needs_matplotlib
def test_one_chart_per_workload_and_an_overview(rendered):
    tmp_path, rendered = rendered
    assert set(rendered) == {"hello-keepalive", "flask-json", "idle", "scale-heavy", "overview"}
    for name, path in rendered.items():
        assert path == str(tmp_path / f"{name}.svg") and os.path.getsize(path) < 100_000
    hello = texts(rendered["hello-keepalive"])
    for label in ("narwhal", "gunicorn-sync", "uwsgi", "nginx", "skipped: failed to start",
                  "61,234", "4,567", "9,876", "15.4 µs", "220.5 µs", "101.3 µs",
                  "Hello world, keep-alive", "commit abc1234", "2026-12-04 10:00 UTC"):
        assert label in hello
    flask = texts(rendered["flask-json"])
    assert "Flask /json" in flask and "`" not in flask  # the title without its Markdown
    idle = texts(rendered["idle"])
    for label in ("narwhal", "gunicorn-gthread", "58,715", "62,564", "2,338", "30.0 MiB (+17.7)"):
        assert label in idle
    scaling = texts(rendered["scale-heavy"])
    assert SCALE_ONE in scaling and SCALE_TWO in scaling and "1,544" in scaling


@needs_matplotlib
def test_overview_is_relative_to_the_baseline(rendered):
    overview = texts(rendered[1]["overview"])
    for label in ("13.41×", "2.16×", "1.00×", "2.42×", "× gunicorn-sync", "hello-keepalive", "flask-json"):
        assert label in overview  # 61,234 / 4,567 = 13.41; 9,876 / 4,567 = 2.16; 6,012 / 2,485 = 2.42
    assert "idle" not in overview.replace("idle client cores", "")  # idle and scaling have their own charts


@needs_matplotlib
def test_svgs_are_deterministic_and_keep_text_as_text(rendered, tmp_path):
    directory, rendered = rendered
    first = {name: open(path, "rb").read() for name, path in rendered.items()}
    again = charts.render(str(directory / "results.json"), str(tmp_path))
    second = {name: open(path, "rb").read() for name, path in again.items()}
    assert first == second
    for data in first.values():
        assert b"<dc:date>" not in data and b"@font-face" not in data and b"<text" in data


def test_results_md_tables_read_back_into_the_same_tables():
    """The 07:25 suite section of RESULTS.md: parse, write again with the suite's writers, same text."""
    markdown = open(os.path.join(BENCH, "RESULTS.md")).read()
    section = suite_tables.find_section(markdown, "2026-12-03 07:25")
    doc = suite_tables.parse_section(section)
    assert doc["commit"] == "baa0af2" and doc["stamp"] == "2026-12-03T0725Z"
    assert doc["method"] == {"server_cpu": "0", "client_cpu": "1", "warmup_s": 1, "runs": 3, "duration_s": 5,
                             "idle_mode": "poll", "idle_connections": 10000}
    assert list(doc["workloads"]) == ["hello-keepalive", "flask-json", "sleep-10ms", "sleep-10ms-500", "idle"]
    lines = section.split("\n")
    hello = doc["workloads"]["hello-keepalive"]
    assert hello["baseline"] == "gunicorn-sync"
    narwhal = hello["rows"][1]
    assert (narwhal["server"], narwhal["rps"], narwhal["rps_runs"], narwhal["server_us"]) == \
        ("narwhal", 56496.0, [48200.0, 56500.0, 60000.0], 16.6)
    written = suite_tables.rows_table(hello["rows"], hello["baseline"], idle_mode="poll")
    start = lines.index(written[0])
    assert lines[start:start + len(written)] == written
    written = suite_tables.idle_table(doc["workloads"]["idle"]["rows"])
    start = lines.index(written[0])
    assert lines[start:start + len(written)] == written
    assert doc["targets"][0] == {"target": "keep-alive ≥7× gunicorn sync req/s",
                                 "measured": "12.4× (56,496 vs 4,550); narwhal core 91% busy", "verdict": "PASS"}


def test_rows_marked_with_another_idle_mode_and_skipped_rows_read_back():
    rows = [row("flask-json-halt", "narwhal", 14309.0, 50.7, idle_mode="halt"),
            {"workload": "flask-json-halt", "server": "gunicorn-sync", "skip": "failed to start"}]
    table = suite_tables.rows_table(rows, "gunicorn-sync", idle_mode="poll")
    assert "| narwhal (idle cores: halt) |" in table[2]
    parsed, baseline = suite_tables.parse_rows_table(table, "flask-json-halt", idle_mode="poll")
    assert parsed[0]["idle_mode"] == "halt" and parsed[1]["skip"] == "failed to start" and baseline is None
    assert suite_tables.rows_table(parsed, "gunicorn-sync", idle_mode="poll") == table


def suite_context(tmp_path):
    args = types.SimpleNamespace(server_cpu="0", client_cpu="1", warmup=1, runs=3, duration=5, idle_mode="poll", idle=1000)
    return {"args": args}


def suite_results():
    return {name: copy.deepcopy(w["rows"]) for name, w in DOCUMENT["workloads"].items()}


def meta():
    keys = ("title", "started", "finished", "stamp", "commit", "src_dirty", "machine", "cpus", "cpu_model", "method")
    return dict({k: DOCUMENT[k] for k in keys}, load_before=["0.5", "0.4", "0.3"], max_load=0.6, versions={"narwhal": "0.1.0"},
                wrk="wrk 4.1.0", python="3.11.2", command="bench/suite.py --runs 3")


@needs_matplotlib
def test_suite_saves_results_renders_and_links_the_charts(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "HERE", str(tmp_path / "bench"))  # bench/results/<stamp>/ of a scratch checkout
    results = suite_results()
    document = suite.results_document(meta(), results)
    assert document["workloads"]["hello-keepalive"]["baseline"] == "gunicorn-sync"
    assert document["workloads"]["scaling"]["baseline"] == SCALE_ONE
    json_path = suite.save_results(document, None)
    assert json_path == str(tmp_path / "bench" / "results" / "2026-12-04T1000Z" / "results.json")
    assert json.load(open(json_path))["workloads"]["flask-json"]["rows"][0]["rps"] == 6012.0
    assert suite.save_results(document, None).endswith("2026-12-04T1000Z-2/results.json")  # never overwritten
    rendered = suite.render_charts(json_path)
    text = suite.report(suite_context(tmp_path), results, meta(), json_path, rendered)
    for name in ("overview", "hello-keepalive", "flask-json", "idle", "scale-heavy"):
        assert f"](results/2026-12-04T1000Z/{name}.svg)" in text  # relative to bench/RESULTS.md
    assert "[results.json](results/2026-12-04T1000Z/results.json)" in text
    assert "`bench/charts.py bench/results/2026-12-04T1000Z/results.json`" in text
    # the overview comes before the first workload, each chart right under its heading
    assert text.index("overview.svg") < text.index("### ")
    hello = text.index("### Hello world, keep-alive")
    assert hello < text.index("hello-keepalive.svg") < text.index("| server |", hello)


def test_suite_report_says_when_charts_were_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "missing", lambda: "python3-matplotlib is not installed (bench/install-deps.sh)")
    json_path = str(tmp_path / "results.json")
    open(json_path, "w").write(json.dumps(DOCUMENT))
    outcome = suite.render_charts(json_path)
    assert outcome.startswith("skipped: python3-matplotlib is not installed")
    text = suite.report(suite_context(tmp_path), suite_results(), meta(), json_path, outcome)
    assert "- charts: skipped: python3-matplotlib is not installed" in text and ".svg" not in text
    assert "bench/charts.py" in text and "| narwhal | 61,234 |" in text

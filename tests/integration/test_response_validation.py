"""Response heads the application gets wrong (issue 10 item 9; docs/http.md "Response
validation"): nothing invalid is ever sent; the app's request gets a 500 and the error is
logged. RFC 9110 §5.5 (control characters), §8.6 (Content-Length), §15.2 (1xx)."""

import pytest

from rawhttp import build_request, read_all_until_close


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("-w", "1", "bad_headers:app")


def calls(server):
    with server.raw(timeout=5) as conn:
        resp = conn.request("GET", "/count")
    assert resp.status == 200, resp
    return int(resp.body)


def test_different_content_lengths_are_a_500_and_the_connection_closes(server):
    with server.raw() as conn:
        # A pipelined second request: it must not be read with a broken framing.
        conn.send(build_request("GET", "/two-cl") + build_request("GET", "/count"))
        resp = conn.read_response()
        assert resp.status == 500, resp
        assert resp.header_all("content-length") == [str(len(resp.body))]
        assert "close" in resp.connection_tokens()
        assert conn.is_closed(3)
    log = server.wait_for_stderr("Error handling request /two-cl")
    assert "several Content-Length headers with different values" in log


def test_identical_content_lengths_are_collapsed(server):
    with server.raw() as conn:
        resp = conn.request("GET", "/same-cl")
        assert resp.status == 200, resp
        assert resp.header_all("content-length") == ["5"]
        assert resp.body == b"hello"
        assert conn.request("GET", "/count").status == 200  # the connection is reused


@pytest.mark.parametrize("byte", ["0b", "7f", "01", "00", "0d", "1f"])
def test_control_characters_in_values_are_a_500(server, byte):
    raw = read_all_until_close(server.port,
                               build_request("GET", "/ctl?c=" + byte, [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    assert b"SECRET" not in raw
    assert b"before" not in raw
    log = server.wait_for_stderr("Error handling request /ctl?c=" + byte)
    assert "Invalid header" in log and "X-Bad" in log


def test_tab_in_a_value_is_accepted(server):
    with server.raw() as conn:
        resp = conn.request("GET", "/tab")
    assert resp.status == 200, resp
    assert resp.header("X-Tab") == "a\tb"


def test_surrounding_whitespace_is_stripped_from_values(server):
    """RFC 9110 §5.5, as gunicorn: Django's "Set-Cookie:  csrftoken=…" goes out with one space."""
    with server.raw() as conn:
        resp = conn.request("GET", "/padded")
        assert resp.status == 200 and resp.body == b"ok", resp
        assert b"\r\nSet-Cookie: csrftoken=abc; Path=/\r\n" in resp.raw, resp.raw
        assert b"\r\nX-Pad: v\r\n" in resp.raw, resp.raw
        assert b"\r\nContent-Length: 2\r\n" in resp.raw, resp.raw
        assert conn.request("GET", "/count").status == 200  # the length was understood


@pytest.mark.parametrize("status", ["100 Continue", "103 Early Hints", "199 Whatever"])
def test_interim_status_as_the_final_one_is_a_500(server, status):
    raw = read_all_until_close(server.port,
                               build_request("GET", "/status?s=" + status.replace(" ", "+"),
                                             [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    assert b"Early" not in raw and b"Continue" not in raw and b"body" not in raw
    log = server.wait_for_stderr("Error handling request /status?s=" + status.replace(" ", "+"))
    assert "an interim (1xx) status cannot be the final response" in log


def test_switching_protocols_keeps_upgrade_and_closes_the_connection(server):
    before = calls(server)
    with server.raw() as conn:
        conn.send(build_request("GET", "/upgrade", [("Upgrade", "websocket"),
                                                   ("Connection", "Upgrade")]))
        resp = conn.read_response()
        assert resp.status == 101, resp
        assert resp.header("Upgrade") == "websocket"
        assert "upgrade" in resp.connection_tokens()
        assert resp.header("Transfer-Encoding") is None
        assert resp.header("Content-Length") is None
        try:
            # Whatever follows a 101 is not HTTP/1.1 any more: it must not reach the app.
            conn.send(build_request("GET", "/upgrade"))
        except OSError:
            pass
        assert conn.is_closed(3)
    assert calls(server) == before + 2  # the /upgrade and this /count, nothing else


def test_headers_changed_after_start_response_are_checked_again(server):
    raw = read_all_until_close(server.port,
                               build_request("GET", "/mutate", [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    assert b"SECRET" not in raw and b"Injected" not in raw

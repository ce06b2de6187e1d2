"""deploy.nginx_config and the launcher's pure parts: the configuration nginx accepts, and what it does with two stub
replicas (plain HTTP servers in this process, no Streamlit): a new browser is pinned by a cookie to the replica that
answered, a pinned one stays there, a dead replica's browsers move to the live one and stay, a websocket upgrade
and the Host header reach the replica, and with every replica down nginx pins nobody."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from deploy import nginx_config, replicas
from deploy.nginx_config import COOKIE, Site, listen_directive, render
from deploy.replicas import LaunchError, parse_args, replica_ports
from harness.app import free_port
from harness.replicas import REPLICA_HEADER, last_port

NGINX = replicas.nginx_binary()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx not found: install Debian's nginx (run_tests.sh does)")


# ---- the configuration -----------------------------------------------------------------------------------------
def test_every_replica_has_its_route_its_group_with_the_others_as_backup_and_a_place_in_the_pool(tmp_path):
    text = render(Site(8501, (8601, 8602, 8603), tmp_path, "127.0.0.1", max_body_mb=26))
    assert "{{" not in text and "listen 127.0.0.1:8501;" in text and "client_max_body_size 26m;" in text
    for port in (8601, 8602, 8603):
        assert f"        {port} convscope_{port};" in text  # the cookie's route
        group = text.split(f"upstream convscope_{port} {{")[1].split("}")[0]
        assert f"server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" in group
        assert sorted(line.split()[1] for line in group.splitlines() if "backup" in line) == sorted(
            f"127.0.0.1:{p}" for p in (8601, 8602, 8603) if p != port)
    pool = text.split("upstream convscope_new {")[1].split("}")[0]
    assert "least_conn;" in pool and pool.count("server 127.0.0.1:") == 3 and "backup" not in pool
    assert f"pid {tmp_path}/nginx.pid;" in text and f"access_log {tmp_path}/access.log convscope;" in text
    assert "proxy_next_upstream_tries 3;" in text


def test_headers_are_set_once_for_the_server_never_in_a_location_which_would_hide_them(tmp_path):
    text = render(Site(8501, (8601, 8602), tmp_path))
    server = text.split("    server {")[1]
    for location in server.split("location ")[1:]:
        block = location.split("}")[0]
        assert "proxy_set_header" not in block and "add_header" not in block, block
    for needed in ("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;",
                   "proxy_set_header Host $http_host;", "add_header Set-Cookie $convscope_set_cookie always;",
                   "add_header X-ConvScope-Replica $upstream_addr always;", "location ~ /_stcore/stream$ {"):
        assert needed in server
    assert "listen 8501;" in text  # every interface, as `streamlit run` does


def test_listen_addresses():
    assert listen_directive(None, 8501) == "8501"
    assert listen_directive("0.0.0.0", 80) == "0.0.0.0:80"
    assert listen_directive("::1", 8501) == "[::1]:8501"


@pytest.mark.parametrize("bad", [
    dict(port=8501, replica_ports=()),
    dict(port=8501, replica_ports=(8601, 8601)),
    dict(port=8601, replica_ports=(8601, 8602)),
    dict(port=70000, replica_ports=(8601,)),
    dict(port=8501, replica_ports=(8601,), address="1.2.3.4; include /etc/passwd"),
    dict(port=8501, replica_ports=(8601,), run_dir="relative/run"),
    dict(port=8501, replica_ports=(8601,), run_dir="/tmp/a b"),
    dict(port=8501, replica_ports=(8601,), run_dir="/tmp/x;y"),
])
def test_what_cannot_make_a_plain_configuration_is_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        Site(**{"run_dir": tmp_path, **bad})


@needs_nginx
def test_nginx_accepts_the_configuration(tmp_path):
    config = tmp_path / "nginx.conf"
    config.write_text(render(Site(free_port(), (free_port(), free_port()), tmp_path, "127.0.0.1")))
    (tmp_path / "tmp").mkdir()
    checked = subprocess.run([NGINX, "-t", "-c", str(config), "-p", str(tmp_path), "-e", "stderr"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


# ---- nginx in front of two stub replicas ---------------------------------------------------------------------------
class Stub(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the headers it received, as JSON."""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def stub_replica():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, cookie: str | None = None, **headers):
    """(status, replica port that answered, cookie value set or None, JSON body or None)."""
    request = urllib.request.Request(url, headers={**headers, **({"Cookie": f"{COOKIE}={cookie}"} if cookie else {})})
    try:
        answer = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        answer = error
    with answer:
        body = answer.read()
        set_cookie = answer.headers.get("Set-Cookie")
        value = set_cookie.split(";")[0].split("=")[1] if set_cookie else None
        data = json.loads(body) if answer.status == 200 else None
        return answer.status, last_port(answer.headers.get(REPLICA_HEADER, "")), value, data


@needs_nginx
def test_stickiness_and_failover_with_two_stub_replicas(tmp_path):
    with stub_replica() as a, stub_replica() as b:
        ports = (a.server_address[1], b.server_address[1])
        port = free_port()
        config = tmp_path / "nginx.conf"
        config.write_text(render(Site(port, ports, tmp_path, "127.0.0.1")))
        (tmp_path / "tmp").mkdir()
        nginx = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp_path), "-e", "stderr", "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_listening(url, nginx)
            # new browsers: pinned by a cookie to the replica that answered; both replicas get some
            firsts = [get(url + "/") for _ in range(4)]
            assert all(status == 200 and cookie == str(served) for status, served, cookie, _ in firsts)
            assert {served for _, served, _, _ in firsts} == set(ports)
            # a pinned browser stays, and is not told again; a cookie naming no replica of this run counts as new
            for p in ports:
                assert get(url + "/media/x", cookie=str(p))[1:3] == (p, None)
            status, served, cookie, _ = get(url + "/", cookie="1234")
            assert served in ports and cookie == str(served)
            # the websocket upgrade and the Host with its port reach the replica
            _, served, _, seen = get(url + "/_stcore/stream", cookie=str(ports[0]), Upgrade="websocket")
            headers = {k.lower(): v for k, v in seen["headers"].items()}
            assert (headers["upgrade"], headers["connection"], headers["host"]) == ("websocket", "upgrade",
                                                                                   f"127.0.0.1:{port}")
            assert get(url + "/x", cookie=str(ports[0]))[3]["headers"].get("Connection") == "close"

            # replica b dies: its browsers reach a at once, are moved there, and stay when b comes back
            b.shutdown()
            b.server_close()
            assert get(url + "/_stcore/health", cookie=str(ports[1]))[:3] == (200, ports[0], str(ports[0]))
            assert get(url + "/_stcore/health")[1] == ports[0]  # new browsers too
            # every replica down: nginx's own 502, and the browser is pinned to nobody
            a.shutdown()
            a.server_close()
            status, _, cookie, _ = get(url + "/", cookie=str(ports[0]))
            assert (status, cookie) == (502, None)
        finally:
            nginx.terminate()
            nginx.wait(10)
            nginx.stderr.close()
    log = (tmp_path / "access.log").read_text()
    assert "GET /_stcore/stream" in log and f"cookie={ports[0]}" in log


def _wait_listening(url: str, nginx: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert nginx.poll() is None, nginx.stderr.read().decode()
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)  # polling while nginx starts
    raise AssertionError("nginx did not listen")


# ---- the launcher's command line ----------------------------------------------------------------------------------
def test_the_launcher_reads_its_options_and_passes_the_rest_to_every_replica(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[server]\nmaxUploadSize = 25\n")
    o = parse_args(["--replicas", "3", "--server.port=9000", "--theme.base", "light", "--server.address", "0.0.0.0"],
                   config_file=config)
    assert (o.replicas, o.port, o.address, o.run_dir, o.max_upload_mb) == (3, 9000, "0.0.0.0", None, 25)
    assert o.streamlit_args == ["--theme.base", "light"]
    o = parse_args(["--replicas=2", "--server.maxUploadSize", "50", "--run-dir", str(tmp_path)], config_file=config)
    assert (o.port, o.address, o.max_upload_mb, o.run_dir) == (8501, None, 50, tmp_path)
    assert o.streamlit_args == ["--server.maxUploadSize", "50"]  # Streamlit must know it too
    assert parse_args(["--replicas", "1"], config_file=tmp_path / "none.toml").max_upload_mb == 200


@pytest.mark.parametrize("argv", [[], ["--replicas", "0"], ["--replicas", "two"], ["--replicas"],
                                  ["--replicas", "2", "--server.port", "99999"]])
def test_bad_launcher_options_are_refused_with_a_sentence(argv):
    with pytest.raises(LaunchError):
        parse_args(argv)


def test_bad_options_exit_2_and_a_missing_nginx_says_what_to_install(monkeypatch, capsys):
    assert replicas.main(["--replicas", "0"]) == 2
    monkeypatch.setattr(replicas, "nginx_binary", lambda: None)
    assert replicas.main(["--replicas", "2"]) == 1
    assert "apt-get install nginx" in capsys.readouterr().err


def test_replica_ports_skip_those_taken():
    taken = {8601, 8603}
    assert replica_ports(8601, 3, free=lambda p: p not in taken) == [8602, 8604, 8605]
    assert replica_ports(8500, 2, free=lambda p: True, avoid=(8501,)) == [8500, 8502]


def test_the_template_has_no_field_render_does_not_fill(tmp_path, monkeypatch):
    template = tmp_path / "t.conf"
    template.write_text("listen {{listen}}; {{mystery}}")
    monkeypatch.setattr(nginx_config, "TEMPLATE", template)
    with pytest.raises(KeyError, match="mystery"):
        render(Site(8501, (8601,), tmp_path))

"""The nginx configuration for several replicas of the app: ``nginx.conf.template`` beside this file, with the
listening address, the replicas' ports and the run folder filled in. A pure function of its arguments; the template
says how stickiness and health work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
COOKIE = "convscope_replica"  # names the replica a browser's session lives in (its loopback port)
REPLICA_HOST = "127.0.0.1"
FAIL_TIMEOUT_SECONDS = 10  # a replica that failed once gets no request for this long; then one request tries it
_FIELD = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Site:
    """What the configuration depends on."""

    port: int  # where browsers connect
    replica_ports: tuple[int, ...]  # each replica's port on REPLICA_HOST
    run_dir: Path  # the run folder: pid file, access log, temporary folders
    address: str | None = None  # the address to listen on; None: every interface
    max_body_mb: int = 26  # the largest request body (an upload) let through

    def __post_init__(self):
        if not self.replica_ports:
            raise ValueError("at least one replica")
        if len(set(self.replica_ports)) != len(self.replica_ports) or self.port in self.replica_ports:
            raise ValueError(f"ports must differ: {self.port} and replicas {list(self.replica_ports)}")
        for port in (self.port, *self.replica_ports):
            if not 0 < port < 65536:
                raise ValueError(f"not a port: {port}")
        if self.address is not None and not re.fullmatch(r"[0-9A-Za-z.:\-\[\]]+", self.address):
            raise ValueError(f"not an address: {self.address!r}")
        if not Path(self.run_dir).is_absolute() or re.search(r"[\s;{}'\"$\\]", str(self.run_dir)):
            raise ValueError(f"the run folder must be an absolute path nginx can read plainly: {self.run_dir}")


def listen_directive(address: str | None, port: int) -> str:
    """``listen``'s argument: ``8501`` (every IPv4 interface), ``127.0.0.1:8501`` or ``[::1]:8501``."""
    if not address:
        return str(port)
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"{address}:{port}"


def _server(port: int, backup: bool = False) -> str:
    return (f"        server {REPLICA_HOST}:{port} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s"
            f"{' backup' if backup else ''};")


def upstream_name(port: int) -> str:
    """The upstream group of the browsers pinned to the replica on ``port``."""
    return f"convscope_{port}"


def render(site: Site) -> str:
    """The whole ``nginx.conf`` for ``site``."""
    ports = site.replica_ports
    fields = {
        "replica_count": str(len(ports)),
        "run_dir": str(site.run_dir),
        "listen": listen_directive(site.address, site.port),
        "cookie": COOKIE,
        "max_body": f"{site.max_body_mb}m",
        "next_tries": str(len(ports)),
        "cookie_routes": "\n".join(f"        {port} {upstream_name(port)};" for port in ports),
        "pool_servers": "\n".join(_server(port) for port in ports),
        "replica_upstreams": "\n".join(
            "\n".join([f"    upstream {upstream_name(port)} {{", _server(port),
                       *(_server(other, backup=True) for other in ports if other != port), "    }"])
            for port in ports),
    }
    template = TEMPLATE.read_text(encoding="utf-8")
    missing = set(_FIELD.findall(template)) - set(fields)
    if missing:
        raise KeyError(f"the template has fields render() does not fill: {sorted(missing)}")
    return _FIELD.sub(lambda m: fields[m.group(1)], template)

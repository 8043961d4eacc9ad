"""Client addresses behind reverse proxies: `X-Forwarded-For` and `X-Forwarded-Proto` are believed only when the
request comes from a proxy named in SALTAPI_TRUSTED_PROXIES (addresses or networks, separated by spaces or
commas). Anyone can send those headers; only a proxy we run can be trusted to have set them.
"""

import ipaddress
import os

SETTING = "SALTAPI_TRUSTED_PROXIES"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(setting: str) -> tuple[Network, ...]:
    """:raises ValueError: for something that is no address or network."""
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in setting.replace(",", " ").split())
    except ValueError as error:
        raise ValueError(f"{SETTING}: {error}") from None


class TrustedProxies:
    """WSGI middleware: behind a trusted proxy, REMOTE_ADDR becomes the client it forwarded for (the rightmost
    address of X-Forwarded-For that is not itself a trusted proxy) and the scheme the one it was asked with."""

    def __init__(self, wsgi_app, networks: tuple[Network, ...]):
        self.wsgi_app = wsgi_app
        self.networks = networks

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.trusted(environ.get("REMOTE_ADDR")):
            client = None
            for address in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
                address = address.strip()
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    break  # nothing left of it that a trusted proxy vouches for
                client = address
                if not self.trusted(address):
                    break
            if client is not None:
                environ["REMOTE_ADDR"] = client
            scheme = environ.get("HTTP_X_FORWARDED_PROTO", "").rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        return self.wsgi_app(environ, start_response)


def init_app(app) -> None:
    setting = app.config.setdefault(SETTING, os.environ.get(SETTING, ""))
    networks = parse_networks(setting)
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)

"""Outbound proxies for model traffic: which proxy a model server's URL goes through.

No Django here (chatweb/settings.py uses it while settings are read; catalog.config picks
a proxy per provider with it). Two sources:

- The environment, as curl and httpx read it: HTTPS_PROXY for https:// servers,
  HTTP_PROXY for http:// ones, ALL_PROXY for both when the specific one is unset, each in
  upper or lower case (lower case wins, as in curl and Python's urllib), and NO_PROXY.
  chatgpt-web's SOCKS_PROXY_HOST / SOCKS_PROXY_PORT (/ SOCKS_PROXY_USERNAME /
  SOCKS_PROXY_PASSWORD) make a socks5:// proxy that, as in chatgpt-web, wins over the
  others.
- A provider's own proxy (catalog.models.Provider), which replaces the environment's.

A proxy URL is http://, https:// (TLS to the proxy), socks5:// or socks5h://, with a host,
an optional port (default 80, 443, 1080, 1080) and optional credentials
(user:password@, percent-encoded). With socks5:// and socks5h:// alike the proxy resolves
the server's name (httpx and httpcore do the same): a proxy is usually there because this
machine cannot resolve or reach the server itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

SCHEMES = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
# The environment's variables read (from_environment), in the case curl reads them.
_CURL_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
SOCKS_VARIABLES = (
    "SOCKS_PROXY_HOST", "SOCKS_PROXY_PORT", "SOCKS_PROXY_USERNAME", "SOCKS_PROXY_PASSWORD",
)  # fmt: skip
VARIABLES = (
    *(case(name) for name in _CURL_NAMES for case in (str.lower, str.upper)),
    *SOCKS_VARIABLES,
)


class ProxyURLError(ValueError):
    """A proxy URL that cannot be used; its text completes "The proxy URL ..."."""


@dataclass(frozen=True)
class ProxyURL:
    """A parsed proxy URL. repr() and `display` never show the password."""

    scheme: str
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def display(self) -> str:
        """scheme://host:port, with `***@` where credentials are: for messages and pages."""
        auth = "***@" if self.has_credentials else ""
        return f"{self.scheme}://{auth}{self.netloc}"

    @property
    def url(self) -> str:
        """The whole URL, credentials included (percent-encoded). Never log or show it."""
        auth = ""
        if self.has_credentials:
            auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        return f"{self.scheme}://{auth}{self.netloc}"

    def without_credentials(self) -> ProxyURL:
        return ProxyURL(self.scheme, self.host, self.port)


def parse_proxy_url(raw: str, *, default_scheme: str = "") -> ProxyURL:
    """`raw` parsed and checked. Without `default_scheme`, a scheme is required; with it
    (the environment's variables: curl reads `proxy:3128` as http://proxy:3128), a URL
    without one gets it. Raises ProxyURLError."""
    text = raw.strip()
    if not text:
        raise ProxyURLError("is empty.")
    if "://" not in text:
        if not default_scheme:
            raise ProxyURLError(
                "must start with http://, https://, socks5:// or socks5h://, "
                "for example http://proxy.example:3128."
            )
        text = f"{default_scheme}://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    shown = _redacted(text)
    if scheme not in SCHEMES:
        raise ProxyURLError(
            f"must start with http://, https://, socks5:// or socks5h://, not {shown!r}."
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyURLError(f"must be only scheme://[user:password@]host:port, not {shown!r}.")
    try:
        port = parts.port
    except ValueError:
        raise ProxyURLError(
            f"has a port that is not a number from 1 to 65535: {shown!r}."
        ) from None
    if port == 0:
        raise ProxyURLError(f"has a port that is not a number from 1 to 65535: {shown!r}.")
    host = parts.hostname or ""
    if not host or any(c in host for c in " \t\r\n/\\@"):
        raise ProxyURLError(f"has no host: {shown!r}.")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if any(c in username + password for c in "\r\n\x00"):
        raise ProxyURLError("has credentials with a line break or NUL in them.")
    if scheme.startswith("socks") and (
        len(username.encode()) > 255 or len(password.encode()) > 255
    ):
        raise ProxyURLError("has a user name or password over SOCKS5's 255 bytes.")
    return ProxyURL(scheme, host, port or SCHEMES[scheme], username, password)


def _redacted(text: str) -> str:
    """The URL as typed, its credentials (anything before the last @ of the authority)
    replaced, so an error message never repeats a password."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{tail}"


@dataclass(frozen=True)
class NoProxy:
    """NO_PROXY, as curl reads it: comma- (or space-) separated entries, `*` for every
    host; a name matches itself and its subdomains (`example.com` and `.example.com`
    both match api.example.com and example.com); an IP address matches itself and a
    CIDR block (10.0.0.0/8) the addresses in it; `name:port` only that port."""

    entries: tuple[tuple[str, int | None], ...] = ()
    everything: bool = False

    @classmethod
    def parse(cls, raw: str) -> NoProxy:
        entries: list[tuple[str, int | None]] = []
        for item in raw.replace(",", " ").split():
            if item == "*":
                return cls((), True)
            host, port = item.lower(), None
            if host.startswith("["):  # [::1]:8080 or [::1]
                inside, _, after = host[1:].partition("]")
                host = inside
                if after.startswith(":") and after[1:].isdigit():
                    port = int(after[1:])
            elif host.count(":") == 1:  # name:port (a bare IPv6 address has several)
                name, _, number = host.partition(":")
                if number.isdigit():
                    host, port = name, int(number)
            entries.append((host.lstrip(".").rstrip("."), port))
        return cls(tuple(entries))

    def matches(self, host: str, port: int) -> bool:
        if self.everything:
            return True
        host = host.lower().strip("[]").rstrip(".")
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for entry, entry_port in self.entries:
            if entry_port is not None and entry_port != port:
                continue
            if address is not None:
                try:
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    pass  # a name: it does not match an address
                continue
            if host == entry or host.endswith("." + entry):
                return True
        return False


@dataclass(frozen=True)
class EnvironmentProxies:
    """The environment's proxy settings (settings.UPSTREAM_PROXIES)."""

    http: ProxyURL | None = None
    https: ProxyURL | None = None
    no_proxy: NoProxy = NoProxy()

    def for_url(self, url: str) -> ProxyURL | None:
        """The proxy a request to `url` goes through (None: straight to the server)."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http
        if proxy is None or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.no_proxy.matches(parts.hostname, port):
            return None
        return proxy


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str]:
    """(the name read, its value): the lower-case variable wins, as in curl and urllib."""
    for candidate in (name.lower(), name.upper()):
        value = environ.get(candidate, "").strip()
        if value:
            return candidate, value
    return name, ""


def from_environment(environ: Mapping[str, str]) -> EnvironmentProxies:
    """The proxies `environ` configures. Raises ProxyURLError naming the variable."""

    def parse(name: str) -> ProxyURL | None:
        read, value = _variable(environ, name)
        if not value:
            return None
        try:
            return parse_proxy_url(value, default_scheme="http")
        except ProxyURLError as exc:
            raise ProxyURLError(f"{read} {exc}") from None

    no_proxy = NoProxy.parse(_variable(environ, "NO_PROXY")[1])
    socks = _socks_from_environment(environ)
    if socks is not None:
        return EnvironmentProxies(socks, socks, no_proxy)
    every = parse("ALL_PROXY")
    return EnvironmentProxies(parse("HTTP_PROXY") or every, parse("HTTPS_PROXY") or every, no_proxy)


def _socks_from_environment(environ: Mapping[str, str]) -> ProxyURL | None:
    host = environ.get("SOCKS_PROXY_HOST", "").strip()
    port = environ.get("SOCKS_PROXY_PORT", "").strip()
    if not host and not port:
        return None
    if not host or not port:
        raise ProxyURLError("SOCKS_PROXY_HOST and SOCKS_PROXY_PORT must be set together.")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ProxyURLError(f"SOCKS_PROXY_PORT must be a port number, not {port!r}.")
    username = environ.get("SOCKS_PROXY_USERNAME", "")
    password = environ.get("SOCKS_PROXY_PASSWORD", "")
    auth = f"{quote(username, safe='')}:{quote(password, safe='')}@" if username else ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        return parse_proxy_url(f"socks5://{auth}{netloc}:{port}")
    except ProxyURLError as exc:
        raise ProxyURLError(f"SOCKS_PROXY_HOST {exc}") from None

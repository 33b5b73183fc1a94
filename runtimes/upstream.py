"""Where an asset's runtime may point, and where its upstream API key may come from.

The rules (checked when a document is validated, and again when a key is read):

- ``runtime.base_url``: http or https, a host, no user info, no query, no fragment.
  With ``HUB_RUNTIME_ALLOWED_NETWORKS`` set, the host must be an IP literal inside one
  of those networks. Host names are then refused rather than resolved: a DNS answer
  checked at validation may differ from the one used at request time.
- ``runtime.api_key_env``: only variables named ``HUB_RUNTIME_SECRET_*``, so no document
  can name the hub's own settings (``SECRET_KEY``, ``DATABASE_URL`` ...).
- ``runtime.api_key_file``: only files under ``HUB_RUNTIME_SECRETS_DIR`` once symlinks
  and ``..`` are resolved; with the setting unset, no file at all.

:class:`UpstreamSecrets` reads keys under those rules and keeps each one for
``ttl_s`` seconds: no file read per request, and a rotated key file is picked up at the
latest ``ttl_s`` seconds after it changes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SECRET_ENV_PREFIX = "HUB_RUNTIME_SECRET_"
SECRET_ENV_RE = re.compile(r"\AHUB_RUNTIME_SECRET_[A-Za-z0-9_]+\Z")
MAX_KEY_BYTES = 16 * 1024
DEFAULT_SECRET_TTL_S = 30.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    """CIDRs (``10.0.0.0/8``, ``fd00::/8``, a bare address) as networks; ``ValueError`` if one is not."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def base_url_problem(url: str, allowed_networks: Sequence[Network] = ()) -> str | None:
    """Why ``url`` may not be a runtime's ``base_url``, or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return "must be an http:// or https:// URL with a host"
    if parts.scheme not in {"http", "https"} or not host:
        return "must be an http:// or https:// URL with a host"
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        return "must not contain spaces, control characters or backslashes"
    if "@" in parts.netloc:
        return "must not contain user info (user:password@); give the key in api_key_env or api_key_file"
    if "?" in url or "#" in url:
        return "must not have a query (?…) or a fragment (#…)"
    if allowed_networks:
        listed = ", ".join(str(n) for n in allowed_networks)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return (
                f"must be an IP address in HUB_RUNTIME_ALLOWED_NETWORKS ({listed}); "
                "host names are not resolved"
            )
        if not any(address in network for network in allowed_networks):
            return f"{host} is outside HUB_RUNTIME_ALLOWED_NETWORKS ({listed})"
    return None


def api_key_env_problem(name: object) -> str | None:
    """Why ``name`` may not be a ``runtime.api_key_env``, or None when it may."""
    if not isinstance(name, str) or not SECRET_ENV_RE.match(name):
        return (
            f"must name an environment variable starting with {SECRET_ENV_PREFIX}, "
            f"e.g. {SECRET_ENV_PREFIX}OPENAI_API_KEY"
        )
    return None


def resolve_key_file(path: object, secrets_dir: str | Path | None) -> Path | str:
    """The resolved path of a key file under ``secrets_dir``, or a message saying why not."""
    if not secrets_dir:
        return "key files are disabled: set HUB_RUNTIME_SECRETS_DIR to allow files under it"
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
        return f"must be an absolute path under HUB_RUNTIME_SECRETS_DIR ({secrets_dir})"
    root = Path(secrets_dir).resolve()
    resolved = Path(path).resolve()  # follows symlinks and '..' wherever they exist
    if resolved == root or not resolved.is_relative_to(root):
        return f"must be a file under HUB_RUNTIME_SECRETS_DIR ({secrets_dir})"
    return resolved


def api_key_file_problem(path: object, secrets_dir: str | Path | None) -> str | None:
    """Why ``path`` may not be a ``runtime.api_key_file``, or None when it may."""
    resolved = resolve_key_file(path, secrets_dir)
    return resolved if isinstance(resolved, str) else None


class UpstreamSecrets:
    """Reads upstream API keys under the rules above, caching each for ``ttl_s`` seconds.

    Thread-safe. A reference that breaks the rules (a document stored before they held,
    or a symlink changed since) reads as no key and is logged; it is never followed.
    """

    def __init__(
        self,
        secrets_dir: str | Path | None = None,
        *,
        ttl_s: float = DEFAULT_SECRET_TTL_S,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.secrets_dir = secrets_dir
        self.ttl_s = ttl_s
        self._environ = os.environ if environ is None else environ
        self._cache: dict[tuple[str | None, str | None], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def key(self, api_key_env: str | None, api_key_file: str | None) -> str | None:
        """The key the binding names (the variable wins over the file); None if none is readable."""
        if not api_key_env and not api_key_file:
            return None
        ref = (api_key_env, api_key_file)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(ref)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = self._read_env(api_key_env) if api_key_env else self._read_file(api_key_file)
        with self._lock:
            self._cache[ref] = (now, value)
        return value

    def forget(self) -> None:
        """Drop every cached key (the next use reads again)."""
        with self._lock:
            self._cache.clear()

    def _read_env(self, name: str) -> str | None:
        problem = api_key_env_problem(name)
        if problem is not None:
            log.warning("runtime.api_key_env %r refused: %s", name, problem)
            return None
        return (self._environ.get(name) or "").strip() or None

    def _read_file(self, path: str | None) -> str | None:
        resolved = resolve_key_file(path, self.secrets_dir)
        if isinstance(resolved, str):
            log.warning("runtime.api_key_file %r refused: %s", path, resolved)
            return None
        try:
            with resolved.open("rb") as fh:
                raw = fh.read(MAX_KEY_BYTES)
        except OSError as exc:
            log.warning("runtime.api_key_file %r unreadable: %s", path, exc)
            return None
        return raw.decode("utf-8", errors="replace").strip() or None

"""Publishing open data to CKAN (Semarang Satu Data) through the Action API, over urllib.

`CkanClient.action` POSTs JSON to {url}/api/3/action/{name} with the API token in the
Authorization header (never logged, never in a message). Connection errors, timeouts, 429 and
5xx answers are retried with exponential backoff; a 4xx answer or `{"success": false}` raises
CkanError with CKAN's error type and message.

`publish` makes sure the dataset exists (package_show, else package_create with organisation,
licence, tags and notes), creates or updates its DataStore table (datastore_create with the
fields and the primary key kelurahan_code + date) and upserts the day's rows
(datastore_upsert, method "upsert"): publishing a day again updates its rows, never duplicates.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import SecretStr

from central.config import CkanSection
from central.opendata.build import KELURAHAN_FIELDS, PRIMARY_KEY, Field, Value
from central.opendata.files import DESCRIPTIONS
from siaga.settings import credential

T = TypeVar("T")
log = logging.getLogger(__name__)
TOKEN_CREDENTIAL: Final = "ckan-token"
TOKEN_ENV: Final = "SIAGA_CKAN_TOKEN"
CKAN_TYPES: Final = {"string": "text", "integer": "int", "number": "numeric", "date": "date",
                     "datetime": "timestamp"}  # fmt: skip
UPSERT_CHUNK: Final = 1000


class CkanError(Exception):
    """CKAN refused a request (4xx, or success false): its type and message, no token."""


class CkanUnavailable(CkanError):
    """CKAN could not be reached or kept failing (connection errors, 5xx) after the retries."""


def load_token(cfg: CkanSection) -> SecretStr:
    """The API token: token_file, else the credential `ckan-token`, else $SIAGA_CKAN_TOKEN."""
    if cfg.token_file is not None:
        try:
            text = Path(cfg.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CkanError(f"opendata.ckan.token_file: cannot read: {exc.strerror}") from None
        if not text:
            raise CkanError(f"opendata.ckan.token_file: {cfg.token_file} is empty")
        return SecretStr(text)
    cred = credential(TOKEN_CREDENTIAL)
    if cred is not None:
        return cred
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return SecretStr(env)
    raise CkanError(f"no CKAN API token: set opendata.ckan.token_file, the systemd credential "
                    f"{TOKEN_CREDENTIAL!r} or ${TOKEN_ENV}")  # fmt: skip


def _error_text(body: bytes) -> str:
    """CKAN's {"success": false, "error": {"__type", "message", field: [...]}} as one line."""
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace").strip() or "(no body)"
    if not isinstance(err, dict):
        return str(err)
    kind = err.get("__type", "Error")
    parts = [str(err["message"])] if "message" in err else []
    parts += [f"{k}: {v}" for k, v in err.items() if k not in ("__type", "message")]
    return f"{kind}: {'; '.join(parts) or '(no message)'}"


MAX_BACKOFF_S = 300.0  # the longest wait between two tries


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the API token to whatever host it names: refuse it."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:  # fmt: skip
        raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirect)


class CkanClient:
    """The CKAN Action API at url, authenticated with token."""

    def __init__(
        self, url: str, token: SecretStr, *, timeout_s: float = 30.0, retries: int = 4,
        backoff_s: float = 2.0, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self._token = token
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._sleep = sleep
        self.calls = 0  # HTTP requests sent, retries included

    def __repr__(self) -> str:
        return f"CkanClient({self.url!r})"

    def action(self, name: str, data: dict[str, Any], *, retries: int | None = None) -> Any:
        """POST one action; its `result`. Retries transient failures, raises CkanError.

        retries: this call's retries (default: the client's); 0 for an action not safe to send
        twice (see create_once)."""
        retries = self.retries if retries is None else retries
        req = urllib.request.Request(
            f"{self.url}/api/3/action/{name}", data=json.dumps(data).encode(), method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "Authorization": self._token.get_secret_value()},
        )  # fmt: skip
        delay = self.backoff_s
        for attempt in range(retries + 1):
            self.calls += 1
            try:
                with _OPENER.open(req, timeout=self.timeout_s) as resp:
                    body = resp.read()
            except urllib.error.HTTPError as exc:
                text = _error_text(exc.read())
                if exc.code < 500 and exc.code != 429:  # 429 Too Many Requests: retried
                    raise CkanError(f"CKAN {name}: HTTP {exc.code} {text}") from None
                problem = f"HTTP {exc.code} {text}"
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = f"cannot reach {self.url}: {reason}"
            else:
                try:
                    doc = json.loads(body)
                except ValueError:
                    raise CkanError(f"CKAN {name}: the answer is not JSON") from None
                if not isinstance(doc, dict) or not doc.get("success"):
                    raise CkanError(f"CKAN {name}: {_error_text(body)}")
                return doc.get("result")
            if attempt == retries:
                raise CkanUnavailable(f"CKAN {name}: {problem} (after {attempt + 1} tries)")
            log.warning("CKAN %s: %s; retrying in %.1f s", name, problem, delay)
            self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
        raise AssertionError("unreachable")  # pragma: no cover

    def create_once(self, name: str, data: dict[str, Any], look: Callable[[], T | None]) -> T:
        """A creating action, which must not run twice: after a failure that may have come
        after CKAN acted (a timeout, a 5xx), look() first and send it again only when nothing
        was made; look() returns what it found, or None."""
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                made: T = self.action(name, data, retries=0)
                return made
            except CkanUnavailable as exc:
                if attempt == self.retries:
                    raise CkanUnavailable(f"{exc} (after {attempt + 1} tries)") from None
                log.warning("%s; looking before trying again in %.1f s", exc, delay)
            self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            found = look()
            if found is not None:
                return found
        raise AssertionError("unreachable")  # pragma: no cover


def datastore_fields(fields: Sequence[Field]) -> list[dict[str, Any]]:
    """CKAN DataStore field definitions with a data dictionary entry (label, notes, unit)."""
    return [{"id": f.name, "type": CKAN_TYPES[f.type],
             "info": {"label": f.name, "notes": f.description, "unit": f.unit}}
            for f in fields]  # fmt: skip


def ensure_dataset(client: CkanClient, cfg: CkanSection) -> dict[str, Any]:
    """The dataset (package_show), created with its metadata when it does not exist."""
    try:
        pkg: dict[str, Any] = client.action("package_show", {"id": cfg.dataset})
        return pkg
    except CkanUnavailable:
        raise
    except CkanError as exc:
        if "Not Found" not in str(exc) and "HTTP 404" not in str(exc):
            raise
    log.info("CKAN: creating dataset %s in %s", cfg.dataset, cfg.organization)
    created: dict[str, Any] = client.create_once("package_create", {
        "name": cfg.dataset, "title": cfg.title, "owner_org": cfg.organization,
        "license_id": cfg.license_id, "notes": DESCRIPTIONS["kelurahan-daily"],
        "tags": [{"name": t} for t in cfg.tags],
    }, lambda: _package_or_none(client, cfg))  # fmt: skip
    return created


def _package_or_none(client: CkanClient, cfg: CkanSection) -> dict[str, Any] | None:
    try:
        pkg: dict[str, Any] = client.action("package_show", {"id": cfg.dataset})
        return pkg
    except CkanUnavailable:
        raise
    except CkanError:
        return None


def _resource_id(pkg: dict[str, Any], name: str) -> str | None:
    found = [r for r in pkg.get("resources") or [] if r.get("name") == name]
    return str(found[0]["id"]) if found else None


def ensure_table(client: CkanClient, cfg: CkanSection, pkg: dict[str, Any]) -> str:
    """The DataStore resource's id: datastore_create (new resource, or fields refreshed)."""
    body: dict[str, Any] = {"fields": datastore_fields(KELURAHAN_FIELDS),
                            "primary_key": list(PRIMARY_KEY), "force": True}  # fmt: skip
    rid = _resource_id(pkg, cfg.resource_name)
    if rid is not None:  # refreshing the fields of a known resource: safe to repeat
        result: dict[str, Any] = client.action("datastore_create", {**body, "resource_id": rid})
        return str(result["resource_id"])
    new = {**body, "resource": {"package_id": pkg["id"], "name": cfg.resource_name,
                                "description": DESCRIPTIONS["kelurahan-daily"],
                                "format": "CSV"}}  # fmt: skip

    def look() -> dict[str, Any] | None:
        again = _package_or_none(client, cfg)
        found = None if again is None else _resource_id(again, cfg.resource_name)
        return None if found is None else {"resource_id": found}

    made: dict[str, Any] = client.create_once("datastore_create", new, look)
    return str(made["resource_id"])


def publish(client: CkanClient, cfg: CkanSection, rows: Sequence[dict[str, Value]]) -> int:
    """Make sure the dataset and table exist, then upsert rows; returns how many were sent."""
    pkg = ensure_dataset(client, cfg)
    resource_id = ensure_table(client, cfg, pkg)
    for i in range(0, len(rows), UPSERT_CHUNK):
        client.action("datastore_upsert", {
            "resource_id": resource_id, "method": "upsert", "force": True,
            "records": list(rows[i : i + UPSERT_CHUNK]),
        })  # fmt: skip
    log.info("CKAN: %d rows upserted into %s/%s", len(rows), cfg.dataset, cfg.resource_name)
    return len(rows)


def client_for(cfg: CkanSection, **kwargs: Any) -> CkanClient:
    """A client with cfg's URL, token, timeout and retries."""
    return CkanClient(cfg.url, load_token(cfg), timeout_s=cfg.timeout_s, retries=cfg.retries,
                      backoff_s=cfg.backoff_s, **kwargs)  # fmt: skip

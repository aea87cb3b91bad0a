"""Consumer positions kept by the lakehose server (a lakehose extension to the Falcon API).

:class:`ServerPositions` is a :class:`~lakehose.client.streams.checkpoint.Checkpoint` whose
offsets live in the server's consumer group for an appId
(``/api/v1/stream-groups/{appId}``): ``save`` commits, ``load`` reads them back, so
a consumer resumes where it stopped even when its own disk is gone.
:class:`BothCheckpoints` keeps a file *and* the server's positions. The groups
themselves (list, show, reset, delete) are :class:`StreamGroups`.

CrowdStrike's cloud has no such API: use these against lakehose only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

import lakehose
from lakehose.client._auth import OAuth2
from lakehose.client._errors import response_error, transport_error
from lakehose.client.streams.checkpoint import Checkpoint
from lakehose.errors import ResponseError

log = logging.getLogger("lakehose.client.streams")


class StreamGroups:
    """The consumer groups of lakehose's stream API (``streams:read``; all of them with ``admin``)."""

    def __init__(
        self,
        auth_object: OAuth2 | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        if auth_object is None:
            auth_object = OAuth2(client_id or "", client_secret or "", base_url or "")
        self.auth = auth_object
        self._client = httpx.Client(
            base_url=auth_object.base_url,
            auth=auth_object,
            timeout=timeout,
            verify=verify,
            headers={"User-Agent": f"lakehose/{lakehose.__version__}"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> StreamGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, what: str, body: Any = None) -> Any:
        try:
            response = self._client.request(method, "/api/v1/stream-groups" + path, json=body)
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from exc
        if response.status_code >= 400:
            raise response_error(response, what)
        return response.json()["resources"]

    @staticmethod
    def _app(app_id: str) -> str:
        return "/" + quote(app_id.lower(), safe="")

    def list(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "", "listing consumer groups")
        return found

    def get(self, app_id: str) -> dict[str, Any] | None:
        """The group's positions and lag, or None if it has none."""
        try:
            found: dict[str, Any] = self._call("GET", self._app(app_id), "consumer group")[0]
        except ResponseError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def commit(self, app_id: str, offsets: Mapping[int, int]) -> dict[str, Any]:
        """Commit ``{partition: offset of the last event processed}``."""
        positions = [{"partition": p, "offset": o} for p, o in sorted(offsets.items()) if o >= 0]
        found: dict[str, Any] = self._call(
            "POST", self._app(app_id) + "/commit", "commit", {"positions": positions}
        )[0]
        return found

    def reset(
        self, app_id: str, start: str, partitions: Sequence[int] | None = None
    ) -> dict[str, Any]:
        """Move the group to ``start`` (``earliest``, ``latest``, ``offset:N``, ``time:T``)."""
        body: dict[str, Any] = {"start": start}
        if partitions is not None:
            body["partitions"] = list(partitions)
        found: dict[str, Any] = self._call("POST", self._app(app_id) + "/reset", "reset", body)[0]
        return found

    def delete(self, app_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("DELETE", self._app(app_id), "delete")[0]
        return found


class ServerPositions:
    """A checkpoint kept in the server's consumer group of ``app_id``."""

    def __init__(self, groups: StreamGroups, app_id: str) -> None:
        self.groups = groups
        self.app_id = app_id

    def __repr__(self) -> str:
        return f"ServerPositions(app_id={self.app_id!r})"

    def load(self) -> dict[int, int]:
        group = self.groups.get(self.app_id)
        if group is None:
            return {}
        return {int(p["partition"]): int(p["committed"]) for p in group["partitions"]}

    def save(self, offsets: Mapping[int, int]) -> None:
        if any(o >= 0 for o in offsets.values()):
            self.groups.commit(self.app_id, offsets)


class BothCheckpoints:
    """A file (or any checkpoint) and the server's positions: saved to both, loaded from the
    furthest of the two per partition."""

    def __init__(self, local: Checkpoint, server: ServerPositions) -> None:
        self.local = local
        self.server = server

    def __repr__(self) -> str:
        return f"BothCheckpoints({self.local!r}, {self.server!r})"

    def load(self) -> dict[int, int]:
        out = self.local.load()
        for p, o in self.server.load().items():
            out[p] = max(o, out.get(p, -1))
        return out

    def save(self, offsets: Mapping[int, int]) -> None:
        self.local.save(offsets)
        self.server.save(offsets)

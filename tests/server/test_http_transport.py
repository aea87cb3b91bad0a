"""CoalescingTransport: the writes of one loop turn reach the socket as one write."""

from __future__ import annotations

import asyncio
import socket

import pytest

from lakehose.server.protocols.transport import CoalescingTransport


async def _pair() -> tuple[asyncio.Transport, socket.socket, list[int]]:
    """A real socket transport whose ``write`` calls are counted, and the peer socket."""
    ours, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    sizes: list[int] = []
    real_write = transport.write

    def counted(data: bytes) -> None:
        sizes.append(len(data))
        real_write(data)

    transport.write = counted  # type: ignore[method-assign]
    return transport, peer, sizes


def _read_all(peer: socket.socket, n: int) -> bytes:
    got = b""
    peer.settimeout(5)
    while len(got) < n:
        got += peer.recv(65536)
    return got


def test_writes_in_one_loop_turn_leave_as_one_write() -> None:
    async def main() -> None:
        transport, peer, sizes = await _pair()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        wrapped.write(b"ok")
        assert sizes == []  # held until the end of this turn
        await asyncio.sleep(0)
        assert sizes == [40]
        assert _read_all(peer, 40).endswith(b"\r\n\r\nok")
        wrapped.write(b"next")
        await asyncio.sleep(0)
        assert sizes == [40, 4]
        wrapped.close()
        peer.close()

    asyncio.run(main())


def test_close_sends_what_is_held_and_abort_drops_it() -> None:
    async def main() -> None:
        transport, peer, sizes = await _pair()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        wrapped.write(b"last words")
        wrapped.close()
        assert sizes == [10]
        assert _read_all(peer, 10) == b"last words"
        peer.close()

        transport, peer, sizes = await _pair()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        wrapped.write(b"dropped")
        wrapped.abort()
        await asyncio.sleep(0)
        assert sizes == []
        peer.close()

    asyncio.run(main())


@pytest.mark.parametrize("name", ["is_closing", "get_extra_info", "pause_reading"])
def test_everything_else_is_the_real_transport(name: str) -> None:
    async def main() -> None:
        transport, peer, _ = await _pair()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        assert getattr(wrapped, name) == getattr(transport, name)
        wrapped.close()
        peer.close()

    asyncio.run(main())

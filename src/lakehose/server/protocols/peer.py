"""Is the peer of a TCP connection gone? Asked of the kernel (``TCP_INFO``), not of the peer.

A consumer whose machine went off, or whose link was cut, sends no FIN: the
server's writes just go unacknowledged while the kernel retransmits them for
about 15 minutes, and the data feed stays "connected" all the while. A consumer
that is alive but reads nothing is different: its kernel acknowledges
everything it received and answers window probes, so acknowledgements keep
coming (that case is ``feed_stall_timeout``'s). So a connection whose data has
been retransmitted (``tcpi_retransmits``) and that has had no acknowledgement
for ``after`` seconds (``tcpi_last_ack_recv``) has lost its peer.
"""

from __future__ import annotations

import contextlib
import socket
import struct

SOCKET_KEY = "lakehose.socket"  # in a request's scope: its connection's socket (protocol.py)
_TCP_INFO = getattr(socket, "TCP_INFO", 11)  # Linux
# struct tcp_info: 8 one-byte fields, then u32s (rto, ato, snd_mss, rcv_mss, unacked,
# sacked, lost, retrans, fackets, last_data_sent, last_ack_sent, last_data_recv, last_ack_recv)
_LAYOUT = struct.Struct("8B13I")
_RETRANSMITS, _UNACKED, _LAST_ACK_RECV = 2, 12, 20


def peer_gone(sock: socket.socket | None, after: float) -> bool:
    """True when data sent on ``sock`` was retransmitted and nothing has been acknowledged
    for ``after`` seconds; False when alive, or when it cannot be told (not TCP, not Linux)."""
    if sock is None:
        return False
    with contextlib.suppress(OSError, struct.error, ValueError):
        info = _LAYOUT.unpack_from(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104))
        return bool(
            info[_UNACKED] > 0 and info[_RETRANSMITS] > 0 and info[_LAST_ACK_RECV] >= after * 1000
        )
    return False

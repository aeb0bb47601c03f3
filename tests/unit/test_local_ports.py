"""Ports for the local stacks come from below the kernel's ephemeral range, so no outgoing
connection can take one between its choice and a server's late bind."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest

from shared import local_ports
from shared.local_ports import LOWEST_PORT, bindable, ephemeral_range, free_port


def test_a_chosen_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    low, _ = ephemeral_range()
    for _ in range(20):
        port = free_port()
        assert LOWEST_PORT <= port < low
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_a_block_is_free_port_by_port_and_stays_below_the_range() -> None:
    low, _ = ephemeral_range()
    base = free_port(block=4)
    assert base + 3 < low
    assert all(bindable(base + offset) for offset in range(4))


def test_a_held_port_is_not_bindable_and_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    free, taken = free_port(), free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", taken))
        held.listen()
        assert not bindable(taken)
        assert not bindable(taken, reuse_address=True)
        # The random pick lands on the held port first, then on the free one (forgotten as
        # handed out, as a port this process never chose).
        monkeypatch.setattr(local_ports, "_handed_out", set())
        picks = iter([taken - LOWEST_PORT, free - LOWEST_PORT])
        monkeypatch.setattr(secrets, "randbelow", lambda _n: next(picks))
        assert free_port() == free


def test_time_wait_counts_as_taken_unless_the_server_reuses_the_address() -> None:
    """A chooser skips a port with a recent connection; the sandbox's check before starting
    its servers (which bind with SO_REUSEADDR) must not refuse its own last run's port."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its side waits in TIME_WAIT
        assert client.recv(1) == b""
        client.close()
    assert not bindable(port)
    assert bindable(port, reuse_address=True)


def test_the_range_is_read_from_the_kernel_and_defaults_when_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    monkeypatch.setattr(local_ports, "EPHEMERAL_RANGE_FILE", source)
    assert ephemeral_range() == (40000, 50000)
    source.write_text("garbage\n")
    assert ephemeral_range() == local_ports.DEFAULT_EPHEMERAL_RANGE
    monkeypatch.setattr(local_ports, "EPHEMERAL_RANGE_FILE", tmp_path / "absent")
    assert ephemeral_range() == local_ports.DEFAULT_EPHEMERAL_RANGE


def test_a_range_that_starts_low_leaves_the_choice_to_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_low, _ = ephemeral_range()
    source = tmp_path / "ip_local_port_range"
    source.write_text("10500 65000\n")  # too few ports below it to choose from
    monkeypatch.setattr(local_ports, "EPHEMERAL_RANGE_FILE", source)
    port = free_port(block=2)
    assert port >= real_low  # where the kernel picks
    assert bindable(port) and bindable(port + 1)


def test_a_block_of_none_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        free_port(block=0)


def test_a_port_is_handed_out_once_even_before_anyone_binds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = free_port()
    second = free_port()
    picks = iter([first - LOWEST_PORT, second - LOWEST_PORT - 1, second - LOWEST_PORT + 5])
    monkeypatch.setattr(secrets, "randbelow", lambda _n: next(picks))
    # Neither port is bound, so only the memory of handing them out keeps them apart: the
    # pick on `first` and the block overlapping `second` are both skipped.
    third = free_port(block=2)
    assert third == second + 5


def test_the_last_block_ends_just_below_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_base = free_port(block=4)
    monkeypatch.setattr(local_ports, "_handed_out", set())  # chosen here only to be free
    source = tmp_path / "ip_local_port_range"
    source.write_text(f"{block_base + 4} 60999\n")
    monkeypatch.setattr(local_ports, "EPHEMERAL_RANGE_FILE", source)
    monkeypatch.setattr(local_ports, "MIN_CANDIDATES", 1)  # however few lie below it
    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)  # the highest candidate
    assert free_port(block=4) == block_base

"""Open-files limit and source-address parsing/picking."""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Iterator

import pytest

from loadtest.errors import ConfigError
from loadtest.plugin.scale import MAX_SOURCE_IPS, SourceIPs, nofile_wanted, parse_source_ips, raise_nofile


@pytest.fixture
def restore_nofile() -> Iterator[tuple[int, int]]:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield limits
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def test_nofile_wanted_is_two_per_user_plus_a_reserve() -> None:
    assert nofile_wanted(1000) == 2256
    assert nofile_wanted(0) == 256


def test_raise_nofile_raises_the_soft_limit_within_the_hard_one(restore_nofile: tuple[int, int]) -> None:
    _, hard = restore_nofile
    if hard == resource.RLIM_INFINITY or hard < 1100:
        pytest.skip(f"needs a finite hard limit of at least 1100, have {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    assert raise_nofile(1100) is None
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (1100, hard)
    assert raise_nofile(500) is None  # never lowered
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1100


def test_raise_nofile_says_how_to_fix_a_low_hard_limit(restore_nofile: tuple[int, int]) -> None:
    soft, hard = restore_nofile
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the hard limit is unlimited")
    warning = raise_nofile(hard + 1000)
    assert warning is not None and "\n" not in warning
    assert f"hard limit {hard}" in warning
    assert f"ulimit -n {hard + 1000}" in warning
    assert f"--ulimit nofile={hard + 1000}:{hard + 1000}" in warning
    assert "Kubernetes" in warning
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)  # raised as far as allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.2-127.0.0.4", ["127.0.0.2", "127.0.0.3", "127.0.0.4"]),
        ("127.0.0.5", ["127.0.0.5"]),
        (" 10.0.0.1 , 10.0.0.3,10.0.0.1", ["10.0.0.1", "10.0.0.3"]),
        ("127.0.0.9-127.0.0.9", ["127.0.0.9"]),
        ("::1", ["::1"]),
        ("fd00::1-fd00::3", ["fd00::1", "fd00::2", "fd00::3"]),
        ("127.0.0.2, ::1", ["127.0.0.2", "::1"]),
        ("10.0.0.254-10.0.1.1", ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]),
    ],
)
def test_parse_source_ips_accepts(text: str, expected: list[str]) -> None:
    assert parse_source_ips(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty entry"),
        ("127.0.0.2,", "empty entry"),
        ("localhost", "not an IP address"),
        ("127.0.0.300", "not an IP address"),
        ("127.0.0.9-127.0.0.2", "ends before it starts"),
        ("127.0.0.1-::1", "mixes IPv4 and IPv6"),
        ("10.0.0.0-10.255.0.0", f"more than {MAX_SOURCE_IPS}"),
        ("127.0.0.2-", "not an IP address"),
    ],
)
def test_parse_source_ips_rejects_with_one_sentence(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_source_ips(text)
    message = str(info.value)
    assert fragment in message and message.startswith("--ws-source-ips") and "\n" not in message


def test_source_ips_round_robin() -> None:
    picker = SourceIPs(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    picks = [picker.next() for _ in range(9)]
    assert picks[:3] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"] and picks[3:6] == picks[:3]
    assert Counter(picks) == {"127.0.0.2": 3, "127.0.0.3": 3, "127.0.0.4": 3}
    assert len(picker) == 3


def test_source_ips_empty_lets_the_kernel_choose() -> None:
    picker = SourceIPs.parse("")
    assert len(picker) == 0 and picker.next() == "" and picker.next() == ""
    assert SourceIPs.parse("127.0.0.2-127.0.0.3").addresses == ("127.0.0.2", "127.0.0.3")

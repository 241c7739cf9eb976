"""``loadtest har``: writes the locustfile, says what it did, refuses bad input in one sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def test_it_writes_the_locustfile_and_says_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "recorded.py"
    assert main(["har", str(FIXTURES / "chat.har"), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith('"""Replay of chat.har, written by `loadtest har`: 2 recorded connections.')
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines() == [
        f"wrote {out}: 2 of 3 WebSocket connections in {FIXTURES / 'chat.har'} (5 HAR entries)",
        "  chat      wss://chat.example.com/ws/chat?room=lobby&token=***  6.012 s, 6 client messages "
        '(2 binary), 3 answered by "id"',
        "  presence  wss://chat.example.com/ws/presence?v=3&t=1715679012578  4.499 s, 3 client messages, "
        '3 answered by "reqId"',
        "  not replayed: wss://chat.example.com/ws/notifications: its handshake failed in the recording "
        "(status 0)",
        "  9 replacements listed in the file for review; secrets not written: query token, header "
        "Authorization, cookie session",
        f"run it: locust -f {out} --host wss://chat.example.com -u 10 -r 10 -t 1m --ws-token TOKEN "
        "--ws-cookie session=VALUE",
    ]
    # run again: it replaces its own file; --match keeps the connections whose URL contains the text
    assert main(["har", str(FIXTURES / "chat.har"), "-o", str(out), "--match", "/ws/presence"]) == 0
    assert "PRESENCE = Recording(" in out.read_text() and "CHAT = " not in out.read_text()
    assert "  3 replacements listed in the file for review; secrets not written: none found" in (
        capsys.readouterr().out.splitlines()
    )


def test_without_output_it_prints_the_file_and_reports_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["har", str(FIXTURES / "ticker.har")]) == 0
    captured = capsys.readouterr()
    assert (
        captured.out.startswith('"""Replay of ticker.har') and "class RecordedUser(HarUser):" in captured.out
    )
    assert captured.err.startswith("printed: 1 of 1 WebSocket connection in ")
    assert "run it: locust -f recorded.py --host ws://localhost:8080 -u 10 -r 10 -t 1m" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["no_websocket.har"],
            "no_websocket.har has no WebSocket connection (3 entries, none with _resourceType websocket): "
            "record with DevTools open before the page opens its WebSocket, then export the HAR again",
        ),
        (["missing.har"], "cannot read {dir}/missing.har: No such file or directory"),
        (
            ["chat.har", "--match", "/nope"],
            "no WebSocket connection of {dir}/chat.har has '/nope' in its URL (they are: "
            "wss://chat.example.com/ws/chat?room=lobby&token=***, "
            "wss://chat.example.com/ws/presence?v=3&t=1715679012578)",
        ),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["har", str(FIXTURES / args[0]), *args[1:]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    expected = message.format(dir=FIXTURES)
    if not expected.startswith(("cannot", "no WebSocket")):
        expected = f"{FIXTURES}/{expected}"
    assert (captured.out, captured.err) == ("", f"loadtest har: {expected}\n")


def test_it_never_overwrites_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text("# my own locustfile\n")
    assert main(["har", str(FIXTURES / "ticker.har"), "-o", str(mine)]) == 2
    assert capsys.readouterr().err == (
        f"loadtest har: {mine} exists and was not written by loadtest har: pick another path, or give "
        "--force\n"
    )
    assert mine.read_text() == "# my own locustfile\n"
    assert main(["har", str(FIXTURES / "ticker.har"), "-o", str(mine), "--force"]) == 0
    assert "TICKER = Recording(" in mine.read_text()
    broken = tmp_path / "broken.har"
    broken.write_text("{")
    assert main(["har", str(broken), "-o", str(tmp_path / "x.py")]) == 2
    assert capsys.readouterr().err == (
        f"loadtest har: {broken} is not valid JSON (Expecting property name enclosed in double quotes at "
        "line 1, column 2): export it from DevTools (Network panel, Export HAR)\n"
    )
    assert not (tmp_path / "x.py").exists()


def test_the_command_imports_neither_locust_nor_gevent(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from loadtest.cli import main\n"
        f"assert main(['har', {str(FIXTURES / 'chat.har')!r}, '-o', {str(tmp_path / 'r.py')!r}]) == 0\n"
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"

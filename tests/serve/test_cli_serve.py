"""``pumpsim serve`` as a user starts it: the address printed, the first page, the input errors (exit 2)."""
from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

from pumpsim.cli.main import main
from pumpsim.serve.app import CSP


def test_serve_starts_on_localhost_prints_its_address_and_answers_the_first_page(tmp_path):
    audit = tmp_path / "audit.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "pumpsim.cli.main", "serve", "--port", "0", "--audit", str(audit)],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stderr.readline()
        assert line.startswith("pumpsim: serving http://127.0.0.1:"), line
        assert f"saves are logged to {audit}" in line
        url = line.split("serving ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as r:
            page = r.read().decode()
            assert r.status == 200 and r.headers["Content-Security-Policy"] == CSP
        assert 'data-testid="table-input"' in page and "synchromed-ii-20" in page  # the example, ready to edit
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


def test_a_port_out_of_range_is_exit_2_with_the_fix(capsys):
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port 70000: not a port (fix: give a number from 1 to 65535" in capsys.readouterr().err


def test_a_port_in_use_is_exit_2_with_the_fix(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_an_audit_log_in_a_missing_folder_is_exit_2(tmp_path, capsys):
    assert main(["serve", "--port", "0", "--audit", str(tmp_path / "nowhere" / "audit.jsonl")]) == 2
    assert "not a file in an existing folder" in capsys.readouterr().err

"""``pumpsim serve``: the local web page (docs/SERVE.md), registered by :func:`add_parser`."""
from __future__ import annotations

import argparse
import sys
import threading

EXIT_OK, EXIT_INPUT = 0, 2
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    """The ``serve`` sub-command."""
    sv = sub.add_parser("serve", help="a local web page: edit and check a table, review a change, plan, reconcile, save "
                        "(pip install 'pumpsim[serve]')")
    sv.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0: any free port)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this computer only; "
                    "another address lets other computers in, with no authentication)")
    sv.add_argument("--open", action="store_true", help="open the page in the default browser")
    sv.add_argument("--audit", default="pumpsim-audit.jsonl", metavar="FILE", help="audit log of the saves, JSON lines "
                    "(default pumpsim-audit.jsonl in the working folder)")
    sv.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        from werkzeug.serving import make_server

        from pumpsim.serve.app import create_app
    except ImportError as e:
        print(f"pumpsim: serve needs Flask ({e.name} is not installed) (fix: pip install 'pumpsim[serve]')", file=sys.stderr)
        return EXIT_INPUT
    if not 0 <= args.port <= 65535:
        print(f"pumpsim: --port {args.port}: not a port (fix: give a number from 1 to 65535, or 0 for any free port)",
              file=sys.stderr)
        return EXIT_INPUT
    audit = Path(args.audit).resolve()
    if audit.is_dir() or not audit.parent.is_dir():
        print(f"pumpsim: --audit {args.audit}: not a file in an existing folder (fix: give a file path such as "
              "pumpsim-audit.jsonl)", file=sys.stderr)
        return EXIT_INPUT
    if args.host not in LOOPBACK:
        print(f"pumpsim: WARNING: listening on {args.host}: other computers can reach this page, and it has no "
              "authentication", file=sys.stderr)
    try:
        _try_bind(args.host, args.port)  # werkzeug would exit 1 itself: say it here, with the fix
        server = make_server(args.host, args.port, create_app(audit, (args.host,)), threaded=True)
    except (OSError, SystemExit) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else "the address is not available"
        print(f"pumpsim: cannot listen on {args.host}:{args.port} ({why}) (fix: give another --port, or 0 for any free "
              "port)", file=sys.stderr)
        return EXIT_INPUT
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{server.server_port}/"
    print(f"pumpsim: serving {url} (Ctrl-C to stop); saves are logged to {audit}", file=sys.stderr, flush=True)
    threading.Thread(target=_warm_up, daemon=True).start()
    if args.open:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("pumpsim: stopped.", file=sys.stderr)
    finally:
        server.server_close()
    return EXIT_OK


def _try_bind(host: str, port: int) -> None:
    """Raise the OSError of an address that cannot be listened on (in use, not this machine's)."""
    import socket

    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[:1]:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)


def _warm_up() -> None:
    """Load the simulator and matplotlib once in the background, so that the first check is quick."""
    from pumpsim.serve import backend
    from pumpsim.serve.app import example_table

    try:
        backend.check_table(example_table(), "example.toml")
    except Exception:  # noqa: BLE001 - a warm-up failure shows again, with its message, on the first check
        pass

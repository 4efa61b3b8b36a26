"""The web application of ``pumpsim serve``: server-rendered panels over :mod:`pumpsim.serve.backend`.

Flask with Jinja2 autoescaping; every asset is a file of this package (``static/``); a strict
Content-Security-Policy on every answer (scripts and styles from this server only, no inline
script or style, no eval; images from this server or ``data:`` URIs).
Bad input is shown as the problems ``validate`` prints at exit 2, never as a server error;
an upload or typed text above 1 MB (2**20 bytes) is refused with a message.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
from importlib import resources
from pathlib import Path

from flask import Flask, Response, g, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from pumpsim._version import __version__
from pumpsim.model.errors import Problem
from pumpsim.serve import backend

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: The largest request: a table and one uploaded file, each up to 1 MB, and the form's overhead [bytes].
MAX_REQUEST = 2 * backend.MAX_BYTES + 64 * 1024
PANELS = (("table", "Table"), ("review", "Change review"), ("plan", "Plan and titrate"), ("refill", "Refill check"),
          ("pathway", "Pathway and program"), ("summary", "Patient summary"))
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def example_table() -> str:
    """The contract example (shipped with the package), the text the table panel starts with."""
    return resources.files("pumpsim.serve").joinpath("examples/example.toml").read_text(encoding="utf-8")


def safe_name(name: str, default: str) -> str:
    """A file name fit for a download header and the audit log: letters, digits, '.', '_', '-' only."""
    base = _SAFE_NAME.sub("-", Path(name.replace("\\", "/")).name).strip("-.")[:100]
    return base or default


#: The host names the page answers to (a request naming another host, as a DNS-rebinding page
#: would, is refused); ``pumpsim serve --host`` adds its own.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(audit: str | Path = "pumpsim-audit.jsonl", hosts: tuple[str, ...] = ()) -> Flask:
    """The application; each save is appended to the audit log ``audit`` (JSON lines). It answers
    requests addressed to this computer (or to ``hosts``), and takes forms only from its own pages."""
    app = Flask("pumpsim.serve", static_folder="static", template_folder="templates")
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST, MAX_FORM_MEMORY_SIZE=MAX_REQUEST, AUDIT=Path(audit))
    app.jinja_env.autoescape = True  # every template, whatever its suffix
    app.jinja_env.filters["num"] = lambda x, nd=4: "-" if x is None else f"{x:.{nd}g}"
    app.jinja_env.filters["when"] = lambda d: "-" if d is None else (
        d.isoformat(sep=" ", timespec="minutes") if isinstance(d, dt.datetime) else str(d))
    app.jinja_env.globals.update(panels=PANELS, version=__version__, max_bytes=backend.MAX_BYTES)
    lock = threading.Lock()

    @app.after_request
    def headers(resp: Response) -> Response:
        if g.get("refused_upload") and resp.status_code == 200:
            resp.status_code = 413  # the page says why, with the limit
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"  # its own forms carry their origin
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    allowed = {h.strip("[]").lower() for h in LOCAL_HOSTS + tuple(hosts)}

    @app.before_request
    def refuse_other_sites() -> Response | None:
        host = request.host.lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]") not in allowed:
            return Response(f"pumpsim serve answers requests to {', '.join(sorted(allowed))} only", status=403,
                            mimetype="text/plain")
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and origin != request.host_url.rstrip("/"):
            return Response("pumpsim serve takes forms from its own pages only", status=403, mimetype="text/plain")
        return None

    @app.before_request
    def refuse_large_requests() -> None:
        if (request.content_length or 0) > MAX_REQUEST:
            raise RequestEntityTooLarge()  # before the body is read

    @app.teardown_request
    def close_uploads(exc: BaseException | None) -> None:
        files = request.__dict__.get("files")  # only when the form was read (a refused request was not)
        for _, f in (files.items(multi=True) if files is not None else ()):
            f.close()

    def refuse(problem: Problem | None) -> list[Problem]:
        if problem is None:
            return []
        g.refused_upload = True
        return [problem]

    def text_field(key: str, file_key: str | None, default_name: str) -> tuple[str, str, list[Problem]]:
        """(text, file name, problems) of a textarea, or of the file uploaded beside it when one is."""
        name = safe_name(request.form.get(f"{key}_name", ""), default_name)
        if file_key:
            f = request.files.get(file_key)
            if f is not None and f.filename:
                data = f.read()  # at most MAX_REQUEST bytes: a larger request is refused before this
                name = safe_name(f.filename, default_name)
                big = refuse(backend.too_large(name, len(data), "the upload"))
                if big:
                    return "", name, big
                try:
                    return data.decode("utf-8"), name, []
                except UnicodeDecodeError as e:
                    return "", name, [Problem(name, "", f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
                                              "save the file as UTF-8")]
        text = request.form.get(key, "")
        big = refuse(backend.too_large(name, len(text.encode("utf-8", "surrogatepass")), "the text"))
        return ("", name, big) if big else (text, name, [])

    def file_bytes(key: str, text_key: str, default_name: str) -> tuple[bytes, str, list[Problem]]:
        f = request.files.get(key)
        if f is not None and f.filename:
            data = f.read()
            name = safe_name(f.filename, default_name)
        else:
            data = request.form.get(text_key, "").encode("utf-8", "surrogatepass")
            name = safe_name(request.form.get(f"{text_key}_name", ""), default_name)
        big = refuse(backend.too_large(name, len(data), "the upload"))
        return (b"", name, big) if big else (data, name, [])

    def invalid(problems: list[Problem], text: str = "", name: str = "table.toml") -> backend.TableView:
        return backend.TableView(name, text, "invalid", problems=problems)

    # ------------------------------------------------------------------ table
    @app.get("/")
    def index():
        return render_template("table.html", panel="table", text=example_table(), name="example.toml", view=None)

    @app.post("/table")
    def table():
        text, name, problems = text_field("table", "table_file", "table.toml")
        view = invalid(problems, text, name) if problems else backend.check_table(text, name)
        if request.headers.get("X-Pumpsim-Fragment") == "1":
            return render_template("_table_result.html", view=view)
        return render_template("table.html", panel="table", text=text, name=name, view=view)

    @app.get("/figure/<key>/<name>.png")
    def figure(key: str, name: str):
        png = backend.figure_png(key, name)
        if png is None:
            return Response("unknown figure: check the table again", status=404, mimetype="text/plain")
        resp = Response(png, mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=3600"  # the key names the table's text
        return resp

    # ------------------------------------------------------------------ change review
    @app.route("/review", methods=["GET", "POST"])
    def review():
        if request.method == "GET":
            return render_template("review.html", panel="review", old=example_table(), new="", old_name="current.toml",
                                   new_name="new.toml", view=None)
        old, old_name, p1 = text_field("table", "table_file", "current.toml")
        new, new_name, p2 = text_field("new", "new_file", "new.toml")
        view = None
        if request.form.get("action") != "prefill":
            view = backend.ReviewView("invalid", p1 + p2) if p1 + p2 else backend.review(old, new, old_name, new_name)
        return render_template("review.html", panel="review", old=old, new=new, old_name=old_name, new_name=new_name,
                               view=view)

    # ------------------------------------------------------------------ plan and titrate
    @app.route("/plan", methods=["GET", "POST"])
    def plan():
        ctx = {"panel": "plan", "plan": None, "titrate": None, "drug": "", "target": "", "pace": "fast"}
        if request.method == "GET":
            return render_template("plan.html", text=example_table(), name="example.toml", **ctx)
        text, name, problems = text_field("table", "table_file", "table.toml")
        action = request.form.get("action", "plan")
        ctx.update(drug=request.form.get("drug", ""), target=request.form.get("target", ""),
                   pace="slow" if request.form.get("pace") == "slow" else "fast")
        if action == "titrate":
            ctx["titrate"] = (backend.TitrateView("invalid", problems) if problems else
                              backend.titrate(text, name, ctx["drug"], ctx["target"], ctx["pace"]))
        elif action == "plan":
            ctx["plan"] = (backend.PlanView("invalid", problems) if problems else
                           backend.plan(text, name, keep_concentration=request.form.get("keep_concentration") == "on"))
        return render_template("plan.html", text=text, name=name, **ctx)

    # ------------------------------------------------------------------ refill check
    @app.route("/refill", methods=["GET", "POST"])
    def refill():
        if request.method == "GET":
            text, name = example_table(), "example.toml"
            return render_template("refill.html", panel="refill", text=text, name=name, view=None,
                                   table=backend.check_table(text, name), session="", volume="")
        text, name, problems = text_field("table", "table_file", "table.toml")
        action = request.form.get("action", "prefill")
        session, volume = request.form.get("session", ""), request.form.get("volume", "")
        view = None
        if problems:
            view = backend.RefillView("invalid", problems)
        elif action == "records":
            data, rname, p = file_bytes("records_file", "records", "records.csv")
            view = backend.RefillView("invalid", p) if p else backend.refill_records(text, name, data, rname)
        elif action == "aspirated":
            view = backend.refill_aspirated(text, name, session, volume)
        table_view = backend.check_table(text, name) if not problems else None
        return render_template("refill.html", panel="refill", text=text, name=name, view=view, table=table_view,
                               session=session, volume=volume)

    # ------------------------------------------------------------------ pathway and program
    @app.route("/pathway", methods=["GET", "POST"])
    def pathway():
        ctx = {"panel": "pathway", "pathway": None, "program": None, "patient": "", "program_text": "",
               "text": "", "name": "table.toml", "patient_name": "patient.toml", "program_name": "program.toml"}
        if request.method == "GET":
            return render_template("pathway.html", **ctx)
        action = request.form.get("action", "pathway")
        ctx["text"], ctx["name"], tp = text_field("table", None, "table.toml")
        if action == "program":
            data, pname, p = file_bytes("program_file", "program", "program.toml")
            ctx["program_text"], ctx["program_name"] = data.decode("utf-8", "replace"), pname
            ctx["program"] = backend.FileView("invalid", p) if p else backend.program(data, pname)
        else:
            data, pname, p = file_bytes("patient_file", "patient", "patient.toml")
            ctx["patient"], ctx["patient_name"] = data.decode("utf-8", "replace"), pname
            p += tp
            ctx["pathway"] = backend.FileView("invalid", p) if p else backend.pathway(data, pname, ctx["text"], ctx["name"])
        return render_template("pathway.html", **ctx)

    # ------------------------------------------------------------------ save and summary
    @app.post("/save")
    def save():
        text, name, problems = text_field("table", "table_file", "table.toml")
        if problems:
            return render_template("table.html", panel="table", text=text, name=name, view=invalid(problems, text, name),
                                   refused="the table was not saved"), 200
        saved = backend.save(text, name)
        if saved.content is None:
            return render_template("table.html", panel="table", text=text, name=name,
                                   view=backend.check_table(text, name), refused=f"Not saved: {saved.refused}.")
        entry = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "file": name, "sha256": saved.sha256,
                 "verdict": saved.view.verdict}
        with lock:
            path = app.config["AUDIT"]
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        resp = Response(saved.content, mimetype="application/toml")
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return resp

    @app.route("/summary", methods=["GET", "POST"])
    def summary():
        if request.method == "GET":
            text, name, problems = example_table(), "example.toml", []
        else:
            text, name, problems = text_field("table", "table_file", "table.toml")
        view = invalid(problems, text, name) if problems else backend.check_table(text, name)
        made = dt.datetime.now().astimezone().isoformat(sep=" ", timespec="minutes")
        return render_template("summary.html", panel="summary", text=text, name=name, view=view, made=made)

    # ------------------------------------------------------------------ errors
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e):
        p = Problem(request.path, "", f"the request is above the limit of {MAX_REQUEST} bytes (an upload may be at most "
                    f"{backend.MAX_BYTES} bytes, 1 MB)", "give a smaller file: a programming table is a few kilobytes")
        return render_template("error.html", panel="", problems=[p], title="Upload refused"), 413

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        fix = ("this is a fault of pumpsim, not of the input: report it with the input and the steps that led here"
               if (e.code or 500) >= 500 else "use the links of the page")
        p = Problem(request.path, "", f"{e.code} {e.name}", fix)
        return render_template("error.html", panel="", problems=[p], title=e.name), e.code

    return app

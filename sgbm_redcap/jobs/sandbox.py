"""The sandbox jobs: serve the local REDCap API emulator, create a project in it, and seed
it with the study project and the synthetic cohort."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.jobs.guards import writable_dir, writable_file
from sgbm_redcap.jobs.synthetic import DEFAULT_EXTRACT_DATE, DEFAULT_SEED, SeededStudy

PORT_BUSY_HELP = ("port {port} on 127.0.0.1 is already in use: pick another with --port "
                  "(0 = any free port), or stop what listens there.")


def sandbox_server(data_dir: Path, *, port: int = 8765, super_token: str | None = None,
                   public_url: str | None = None,
                   faults_json: str | None = None) -> ThreadingHTTPServer:
    """A sandbox server bound to 127.0.0.1:``port`` (not yet serving): its state lives in
    ``data_dir``; ``super_token`` (64 hex) may create projects; ``faults_json`` is a
    :class:`~sgbm_redcap.sandbox.FaultPlan` as JSON."""
    from sgbm_redcap.sandbox import FaultPlan, Sandbox
    from sgbm_redcap.sandbox.server import make_server

    if super_token and (len(super_token) != 64
                        or not all(c in "0123456789abcdefABCDEF" for c in super_token)):
        raise ConfigError("--super-token must be 64 hexadecimal characters",
                          setting="super_token")
    plan = None
    if faults_json:
        try:
            plan = FaultPlan(**json.loads(faults_json))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--faults is not a fault plan: {exc}", setting="faults") from None
    sb = Sandbox(writable_dir(data_dir, option="--data"))
    if public_url:
        sb.set_public_url(public_url)
    if super_token:
        sb.register_super_token(super_token.upper())
    if plan is not None:
        sb.set_faults(plan)
    try:
        return make_server(sb, port)
    except OverflowError:
        raise ConfigError(f"--port {port} is not a TCP port (0 to 65535)",
                          setting="port") from None
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise ConfigError(PORT_BUSY_HELP.format(port=port), setting="port") from None
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                          setting="port") from None


def sandbox_url(server: ThreadingHTTPServer) -> str:
    """The ``/api/`` URL ``server`` answers at."""
    from sgbm_redcap.sandbox.server import api_url

    return api_url(server)


def serve_until_interrupted(server: ThreadingHTTPServer) -> None:
    """Serve until Ctrl-C, then close the socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _write_token(token: str, token_file: Path) -> None:
    token_file.write_text(token + "\n", encoding="utf-8")
    os.chmod(token_file, 0o600)


def create_project(data_dir: Path, dictionary: Path, *, repeating: tuple[str, ...] = (),
                   dags: tuple[str, ...] = (), token_file: Path) -> Path:
    """Create a project in the sandbox at ``data_dir`` from a dictionary CSV; its token goes
    to ``token_file`` (mode 600) only."""
    from sgbm_redcap.sandbox import Sandbox

    writable_file(token_file, option="--token-file")
    token = Sandbox(writable_dir(data_dir, option="--data")).create_project(
        dictionary, repeating_forms=repeating, dags=dags)
    _write_token(token, token_file)
    return token_file


def seed(data_dir: Path, *, n: int = 100, seed: int | None = None,
         problem_rate: float = 0.1, extract_date: date | None = None,
         project_dir: Path | None = None, manifest_path: Path | None = None,
         token_file: Path | None = None) -> SeededStudy:
    """Build the study project in the sandbox at ``data_dir`` and load a synthetic cohort;
    the planted-problem manifest (JSON) and the token (mode 600) go to their files."""
    from sgbm_redcap.jobs.synthetic import seed_study
    from sgbm_redcap.sandbox import Sandbox

    for path, option in ((manifest_path, "--manifest"), (token_file, "--token-file")):
        if path is not None:
            writable_file(path, option=option)
    study = seed_study(Sandbox(writable_dir(data_dir, option="--data")), n=n,
                       seed=DEFAULT_SEED if seed is None else seed, problem_rate=problem_rate,
                       project_dir=project_dir, extract_date=extract_date or DEFAULT_EXTRACT_DATE)
    if manifest_path is not None:
        manifest_path.write_text(json.dumps([dataclasses.asdict(p) for p in study.manifest],
                                            indent=1) + "\n", encoding="utf-8")
    if token_file is not None:
        _write_token(study.token, token_file)
    return study

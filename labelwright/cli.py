"""The ``labelwright`` command line (docs/cli.md; the HTTP API it mirrors: docs/api.md)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import DomainError
from labelwright.cli_backup import add_backup_commands
from labelwright.cli_datasets import add_import_dataset_command
from labelwright.cli_evaluation import add_evaluate_command
from labelwright.cli_jobs import add_job_commands
from labelwright.cli_models import add_model_commands
from labelwright.cli_selection import add_select_command
from labelwright.logs import configure_logging
from labelwright.settings import Settings
from projections.exports import DEFAULT_EXPORT_FORMAT, EXPORTERS

if TYPE_CHECKING:
    from labelwright.services import Services


def _version() -> str:
    try:
        return version("labelwright")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+src"


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data_dir=args.data_dir, database_url=args.database_url)


def _services(args: argparse.Namespace, background: bool = False) -> Services:
    """The services a command needs: everything but live collaboration (the server's)."""
    from labelwright.bootstrap import bootstrap

    return bootstrap(_settings(args), background=background, live=False)


def _close(services: Services) -> None:
    from labelwright.bootstrap import shutdown

    shutdown(services)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise DomainError("the passwords differ")
    return first


# -- commands ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from labelwright.server import serve

    return serve(_settings(args), args.host, args.port)


def cmd_demo(args: argparse.Namespace) -> int:
    from labelwright.demo import create_demo
    from labelwright.server import serve

    services = _services(args, background=True)
    try:
        info = create_demo(services)
    finally:
        _close(services)
    print(f"Demo project {info['project_name']!r} ({info['project_id']}) is ready.")
    shapes = info["shapes"]
    print(f"Demo project {shapes['project_name']!r} ({shapes['project_id']}) has a registered "
          f"model to run: open its Models page as maria, or run\n  labelwright prelabel "
          f"{shapes['project_id']} --model {shapes['model_id']}")
    print(f"Open http://{args.host}:{args.port}/ and log in as one of:")
    for user, password, role in info["logins"]:
        print(f"  {user:<10} password {password:<16} ({role})")
    print(f"API: http://{args.host}:{args.port}/api/v1/openapi.json")
    sys.stdout.flush()
    if args.no_serve:
        return 0
    return serve(_settings(args), args.host, args.port)


def cmd_user_add(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        password = _read_password(args)
        services.app.register_user(args.name, password, is_admin=args.admin)
        print(f"user {args.name} added" + (" (admin)" if args.admin else ""))
    finally:
        _close(services)
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        user, position = services.app.disable_user(args.name, None)
        revoked = services.tokens.revoke_user(user.username)
        print(f"user {user.username} disabled" if position is not None
              else f"user {user.username} was already disabled")
        print(f"{revoked} token(s) revoked")
    finally:
        _close(services)
    return 0


def cmd_user_enable(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        user, position = services.app.enable_user(args.name, None)
        print(f"user {user.username} enabled" if position is not None
              else f"user {user.username} was not disabled")
    finally:
        _close(services)
    return 0


def cmd_user_revoke_tokens(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        user, _ = services.app.revoke_user_tokens(args.name, None)
        revoked = services.tokens.revoke_user(user.username)
        print(f"{revoked} token(s) of {user.username} revoked (login sessions and API "
              "tokens)")
    finally:
        _close(services)
    return 0


def cmd_user_set_password(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        user = services.app.user(args.name)  # an unknown name fails before the prompt
        password = _read_password(args)
        services.app.reset_password(user.username, password, None)
        revoked = services.tokens.revoke_user(user.username, ["login"])
        print(f"password of {user.username} set; {revoked} login session(s) ended")
    finally:
        _close(services)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        user = services.app.user(args.name)
        if user.disabled:
            raise DomainError(f"user {user.username} is disabled")
        token = services.tokens.issue(user.username, kind="api", name=args.label)
        print(token)
    finally:
        _close(services)
    return 0


def cmd_import_images(args: argparse.Namespace) -> int:
    from service_layer.image_file_import import import_image_paths

    services = _services(args, background=True)
    try:
        report = import_image_paths(services, args.project_id, [Path(p) for p in args.paths],
                                    actor=args.actor, progress=not args.quiet)
    finally:
        _close(services)
    print(json.dumps(report))
    return 0 if not report["errors"] else 1


def cmd_import_predictions(args: argparse.Namespace) -> int:
    from service_layer.prediction_file_import import import_predictions_file

    services = _services(args, background=True)
    try:
        report = import_predictions_file(services, args.project_id, Path(args.file),
                                         args.model, args.model_version, actor=args.actor,
                                         progress=not args.quiet)
    finally:
        _close(services)
    print(json.dumps(report))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from projections.export_splits import parse_split
    from projections.exports import check_images, stream_export

    check_images(args.format, args.images)  # before opening the stores: a usage error
    split = parse_split(args.split, args.seed)
    services = _services(args)
    try:
        services.runner.catch_up()
        project = services.read.project(args.project_id)
        if project is None:
            raise DomainError(f"no project {args.project_id}")
        head = services.runner.status()["head"]
        if args.position is not None and not 0 <= args.position <= head:
            raise DomainError(f"position {args.position} is beyond the log's head {head}")
        out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
        try:
            for chunk in stream_export(services.read, services.app, project, args.format,
                                       args.position, args.include_proposed,
                                       images=services.images if args.images else None,
                                       split=split):
                out.write(chunk)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
    finally:
        _close(services)
    if args.output != "-":
        print(f"exported {args.format} of project {args.project_id} to {args.output}",
              file=sys.stderr)
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        if args.action == "rebuild":
            _rebuild_with_progress(services.runner, args.name, quiet=args.quiet)
        elif args.catch_up:
            services.runner.catch_up()
        print(json.dumps(services.runner.status(), indent=2))
    finally:
        _close(services)
    return 0


def _rebuild_with_progress(runner: Any, name: str | None, quiet: bool) -> None:
    """Rebuild in a thread while a progress bar follows the projections' positions."""
    import threading

    from tqdm import tqdm

    from event_store.positions import log_head

    outcome: list[BaseException] = []

    def work() -> None:
        try:
            runner.rebuild(name)
        except BaseException as e:  # reported below, in the main thread
            outcome.append(e)

    head = log_head(runner.app)
    thread = threading.Thread(target=work, name="rebuild")
    thread.start()
    with tqdm(total=head, unit="ev", disable=quiet, file=sys.stderr) as bar:
        while thread.is_alive():
            thread.join(0.2)
            positions = runner.positions()
            done = min((v for k, v in positions.items() if name in (None, k)), default=head)
            bar.update(max(0, min(done, head) - bar.n))
        bar.update(head - bar.n)
    if outcome:
        raise outcome[0]


def cmd_migrate(args: argparse.Namespace) -> int:
    from labelwright.bootstrap import auth_database, migrate_stores, view_database

    settings = _settings(args).with_secret()
    db = view_database(settings)
    auth = auth_database(settings)
    try:
        applied = migrate_stores(db, auth)
    finally:
        auth.close()
        db.close()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from labelwright.worker import parse_bind, run_worker

    settings = _settings(args)
    if settings.worker_metrics_bind:
        try:
            parse_bind(settings.worker_metrics_bind)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return run_worker(settings)


# -- parser -----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="data directory (default $LABELWRIGHT_DATA_DIR or ./labelwright-data)")
    p.add_argument("--database-url", default=None,
                   help="postgresql://... (default $LABELWRIGHT_DATABASE_URL; unset = SQLite)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelwright", description=__doc__)
    parser.add_argument("--version", action="version", version=f"labelwright {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str
            ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p)
        p.set_defaults(func=func)
        return p

    p = add("serve", cmd_serve, "run the service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = add("demo", cmd_demo, "create a demo project with sample images and users, then serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="create the demo and exit")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action",
                                                                       required=True)
    p = user.add_parser("add", help="add a user")
    _common(p)
    p.add_argument("name")
    p.add_argument("--admin", action="store_true")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_user_add)
    for name, func, text in (
            ("disable", cmd_user_disable, "disable a user: no login, every token of theirs "
             "revoked; project roles stay"),
            ("enable", cmd_user_enable, "enable a disabled user (old tokens stay revoked)"),
            ("revoke-tokens", cmd_user_revoke_tokens,
             "revoke every token of a user (login sessions and API tokens)"),
            ("set-password", cmd_user_set_password,
             "set a user's password (asks for it, or --password-stdin); ends their login "
             "sessions")):
        p = user.add_parser(name, help=text, description=text)
        _common(p)
        p.add_argument("name", help="username")
        if name == "set-password":
            p.add_argument("--password-stdin", action="store_true",
                           help="read the password from stdin")
        p.set_defaults(func=func)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action",
                                                                       required=True)
    p = token.add_parser("create", help="create a long-lived API token for a user (printed once)")
    _common(p)
    p.add_argument("name", help="username")
    p.add_argument("--label", default=None, help="a note to recognise the token by")
    p.set_defaults(func=cmd_token_create)

    p = add("import-images", cmd_import_images, "register image files/folders into a project")
    p.add_argument("project_id")
    p.add_argument("paths", nargs="+")
    p.add_argument("--actor", default="cli", help="username recorded on the events")
    p.add_argument("--quiet", action="store_true")

    p = add("import-predictions", cmd_import_predictions,
            "import COCO results JSON or Labelwright JSON as pre-labels")
    p.add_argument("project_id")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("--model-version", required=True)
    p.add_argument("--actor", default="cli")
    p.add_argument("--quiet", action="store_true")

    p = add("export", cmd_export, "export labels (current, or as of a global position)")
    p.add_argument("project_id")
    p.add_argument("--format", default=DEFAULT_EXPORT_FORMAT, choices=sorted(EXPORTERS),
                   help="; ".join(f"{name}: {e.summary}" for name, e in EXPORTERS.items()))
    p.add_argument("--position", type=int, default=None)
    p.add_argument("--include-proposed", action="store_true",
                   help="add pending pre-labels (" + ", ".join(
                       name for name, e in EXPORTERS.items() if e.optional_proposals) + ")")
    p.add_argument("--images", action="store_true",
                   help="put the image files in the zip (" + ", ".join(
                       name for name, e in EXPORTERS.items() if e.with_images) + ")")
    p.add_argument("--split", default=None, metavar="NAME:FRACTION,...",
                   help="e.g. train:0.8,val:0.1,test:0.1 (default: everything in train); an "
                        "image's split depends only on --seed and its content hash")
    p.add_argument("--seed", type=int, default=None, help="seed of --split (default 0)")
    p.add_argument("-o", "--output", default="-")
    add_evaluate_command(add)
    add_import_dataset_command(add)
    add_select_command(add)
    add_backup_commands(add)

    proj = sub.add_parser("projections", help="read models").add_subparsers(dest="action",
                                                                            required=True)
    p = proj.add_parser("rebuild", help="rebuild read models from the event log")
    _common(p)
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_projections)
    p = proj.add_parser("status", help="each projection's position and lag")
    _common(p)
    p.add_argument("--catch-up", action="store_true", help="bring them up to date first")
    p.set_defaults(func=cmd_projections)

    add_model_commands(sub, _common)
    add("migrate", cmd_migrate, "apply pending read-model migrations")
    add("worker", cmd_worker, "run jobs and keep the read models caught up (with "
        "LABELWRIGHT_REDIS_URL, workers anywhere share the jobs)")
    add_job_commands(sub, _common, lambda a: _services(a, background=True), _close)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()  # LABELWRIGHT_LOG_FORMAT=json: JSON lines (docs/operations.md)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DomainError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``promptledger``: a small command line for scripts and CI pipelines.

    promptledger get NAME [--label L | --version N]
    promptledger render NAME [--var k=v] [--var k=@file] [--json-var k=JSON] [--vars FILE]
                             [--label L | --version N]
    promptledger push FILE --prompt NAME [--message "..."]

The server and key come from ``--url`` / ``--api-key`` or ``PROMPTLEDGER_URL`` /
``PROMPTLEDGER_API_KEY``. Exit codes: 0 ok; 1 API or validation error (the server's
message, or the renderer's, on stderr); 2 usage error (bad arguments, unreadable file,
missing configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from promptledger import __version__

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2

TEXT_SUFFIXES = {".txt", ".j2", ".jinja", ".jinja2", ".md", ".tmpl"}
JSON_SUFFIXES = {".json"}
YAML_SUFFIXES = {".yaml", ".yml"}
VERSION_KEYS = {
    "template",
    "messages",
    "variables",
    "model_config",
    "example_set_version",
    "message",
}


class UsageError(Exception):
    """Bad arguments or input files: exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="promptledger",
        description="Fetch, render and push PromptLedger prompts.",
        epilog="Exit codes: 0 ok, 1 API/validation error, 2 usage error.",
    )
    parser.add_argument("--url", help="server URL (default: $PROMPTLEDGER_URL)")
    parser.add_argument("--api-key", help="API key (default: $PROMPTLEDGER_API_KEY)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="HTTP timeout in seconds (default 10)"
    )
    parser.add_argument("--version", action="version", version=f"promptledger {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def selector(sub: argparse.ArgumentParser) -> None:
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--label", help="a label (default: production, else the latest version)")
        group.add_argument(
            "--version", dest="number", type=int, metavar="N", help="a version number"
        )

    get = commands.add_parser("get", help="print the resolved prompt as JSON")
    get.add_argument("name", metavar="NAME")
    selector(get)

    render = commands.add_parser(
        "render",
        help="render a prompt locally (the server's renderer) and print the text or messages",
    )
    render.add_argument("name", metavar="NAME")
    selector(render)
    render.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="K=V",
        help="a string variable; K=@FILE reads the value from FILE (repeatable)",
    )
    render.add_argument(
        "--json-var",
        action="append",
        default=[],
        metavar="K=JSON",
        help="a variable given as JSON (numbers, lists, objects); K=@FILE reads JSON from FILE",
    )
    render.add_argument(
        "--vars",
        metavar="FILE",
        help="a JSON object of variables ('-' for stdin); --var overrides it",
    )
    render.add_argument(
        "--json",
        action="store_true",
        help="print a JSON object {prompt, version, label, text|messages}",
    )

    push = commands.add_parser(
        "push",
        help="create a new version from a file",
        description=(
            "Create version n+1 of a prompt from FILE: .txt/.j2/.jinja/.md (or '-' for stdin) "
            'is a text template; .json/.yaml is a list of messages, {"messages": [...]}, or a '
            "full version body (template|messages, variables, model_config, "
            "example_set_version, message)."
        ),
    )
    push.add_argument("file", metavar="FILE")
    push.add_argument(
        "--prompt", required=True, metavar="NAME", help="the prompt to add a version to"
    )
    push.add_argument("--message", "-m", help="the commit message")
    return parser


# --------------------------------------------------------------------------- helpers


def _read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not valid JSON: {exc}") from exc


def _split(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UsageError(f"{option} expects K=V, got {item!r}")
    return key, value


def _variables(args: argparse.Namespace) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if args.vars:
        loaded = _parse_json(_read_text(args.vars), args.vars)
        if not isinstance(loaded, dict):
            raise UsageError(f"{args.vars} must hold a JSON object of variables")
        variables.update(loaded)
    for item in args.json_var:
        key, value = _split(item, "--json-var")
        if value.startswith("@"):
            variables[key] = _parse_json(_read_text(value[1:]), value[1:])
        else:
            variables[key] = _parse_json(value, f"--json-var {key}")
    for item in args.var:
        key, value = _split(item, "--var")
        variables[key] = _read_text(value[1:]) if value.startswith("@") else value
    return variables


def _load_structured(path: str, text: str) -> Any:
    if Path(path).suffix.lower() in YAML_SUFFIXES:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise UsageError("reading YAML needs PyYAML: pip install pyyaml (or use JSON)") from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {exc}") from exc
    return _parse_json(text, path)


def _version_body(path: str, message: str | None) -> dict[str, Any]:
    text = _read_text(path)
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in JSON_SUFFIXES or suffix in YAML_SUFFIXES:
        data = _load_structured(path, text)
        if isinstance(data, list):
            body: dict[str, Any] = {"messages": data}
        elif isinstance(data, dict):
            unknown = sorted(set(data) - VERSION_KEYS)
            if unknown:
                raise UsageError(
                    f"{path}: unknown key(s) {', '.join(unknown)}; a version body has "
                    f"{', '.join(sorted(VERSION_KEYS))}"
                )
            if "template" not in data and "messages" not in data:
                raise UsageError(
                    f"{path} must hold 'template' or 'messages' (or a list of messages)"
                )
            body = dict(data)
        else:
            raise UsageError(f"{path} must hold a list of messages or a version object")
    else:
        body = {"template": text}
    if message is not None:
        body["message"] = message
    return body


def _dump(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False))
    out.write("\n")


def _client(args: argparse.Namespace) -> Any:
    from promptledger.client import PromptLedger
    from promptledger.errors import PromptLedgerError

    url = args.url or os.environ.get("PROMPTLEDGER_URL")
    key = args.api_key or os.environ.get("PROMPTLEDGER_API_KEY")
    if not url:
        raise UsageError("no server URL: pass --url or set PROMPTLEDGER_URL")
    if not key:
        raise UsageError("no API key: pass --api-key or set PROMPTLEDGER_API_KEY")
    try:
        return PromptLedger(base_url=url, api_key=key, timeout=args.timeout, cache_ttl=0)
    except PromptLedgerError as exc:
        raise UsageError(exc.message) from exc


# --------------------------------------------------------------------------- commands


def _cmd_get(args: argparse.Namespace, out: TextIO) -> int:
    client = _client(args)
    try:
        _dump(client.fetch_resolved(args.name, label=args.label, version=args.number), out)
    finally:
        client.close(timeout=0)
    return EXIT_OK


def _cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    variables = _variables(args)
    client = _client(args)
    try:
        prompt = client.get_prompt(args.name, label=args.label, version=args.number)
    finally:
        client.close(timeout=0)
    rendered = prompt.render(variables)
    if args.json:
        result: dict[str, Any] = {
            "prompt": prompt.name,
            "version": prompt.version,
            "label": prompt.label,
            "kind": prompt.kind,
            "content_hash": prompt.content_hash,
            "text": rendered if isinstance(rendered, str) else None,
            "messages": rendered if isinstance(rendered, list) else None,
        }
        _dump(result, out)
    elif isinstance(rendered, str):
        out.write(rendered)
        if not rendered.endswith("\n"):
            out.write("\n")
    else:
        _dump(rendered, out)
    return EXIT_OK


def _cmd_push(args: argparse.Namespace, out: TextIO) -> int:
    body = _version_body(args.file, args.message)
    client = _client(args)
    try:
        created = client.create_version_raw(args.prompt, body)
    finally:
        client.close(timeout=0)
    _dump(created, out)
    return EXIT_OK


COMMANDS = {"get": _cmd_get, "render": _cmd_render, "push": _cmd_push}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    from promptledger.errors import APIError, PromptLedgerError
    from promptledger.rendering import RenderError

    out = sys.stdout
    err = sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args, out)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except UsageError as exc:
        err.write(f"promptledger: error: {exc}\n")
        return EXIT_USAGE
    except APIError as exc:
        where = f" (field: {exc.field})" if exc.field else ""
        err.write(f"promptledger: {exc.message}{where} [HTTP {exc.status_code}, {exc.code}]\n")
        return EXIT_API
    except RenderError as exc:
        part = exc.details.get("where") if isinstance(exc.details, dict) else None
        suffix = f" (in {part})" if part else ""
        err.write(f"promptledger: render failed: {exc.message}{suffix} [{exc.code}]\n")
        return EXIT_API
    except PromptLedgerError as exc:
        err.write(f"promptledger: {exc.message}\n")
        return EXIT_API
    except KeyboardInterrupt:
        err.write("promptledger: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

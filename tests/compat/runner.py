"""Runs Jinja's own test suite (from the Jinja2 sdist on PyPI, for the installed version)
against PromptLedger's template environment and compares the outcome with the checked-in
list of expected differences (``jinja_expected_differences.toml``).

Three runs, in parallel subprocesses, each with ``jinja_plugin.py`` loaded:
``stock`` (Jinja as Jinja runs it: the baseline on this machine), ``product`` (every
environment the tests build is the product's) and ``reference`` (Jinja's
``SandboxedEnvironment(undefined=StrictUndefined)``: which differences stock sandboxed
Jinja shares). A *difference* is a test that passes in ``stock`` and does not pass in
``product``. Every difference must match an entry of the list, and every entry must
match at least one difference.

Command line (prints the report; exit status 1 when the check fails)::

    .venv/bin/python -m tests.compat.runner
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = Path(os.environ.get("PL_JINJA_SDIST_CACHE", ROOT / ".cache" / "jinja-sdist"))
EXPECTED = HERE / "jinja_expected_differences.toml"
PYPI_SIMPLE = "https://pypi.org/simple/jinja2/"
RUN_TIMEOUT = 300


class SdistUnavailable(RuntimeError):
    pass


# --------------------------------------------------------------------------- the sdist


def _download_sdist(version: str, dest: Path) -> Path:
    """The sdist ``jinja2-<version>.tar.gz`` as PyPI's simple index (PEP 691 JSON) lists
    it, checked against the index's sha256."""
    import httpx

    filename = f"jinja2-{version}.tar.gz"
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        index = client.get(PYPI_SIMPLE, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        index.raise_for_status()
        files = [f for f in index.json()["files"] if f["filename"].lower() == filename]
        if not files:
            raise SdistUnavailable(f"PyPI lists no {filename}")
        info = files[0]
        body = client.get(info["url"]).content
    digest = hashlib.sha256(body).hexdigest()
    if digest != info["hashes"]["sha256"]:
        raise SdistUnavailable(
            f"{filename}: sha256 {digest} does not match PyPI's {info['hashes']['sha256']}"
        )
    target = dest / filename
    target.write_bytes(body)
    return target


def ensure_jinja_tests(version: str | None = None) -> Path:
    """The directory holding ``tests/`` (and ``pyproject.toml``, for Jinja's own pytest
    settings) of the Jinja2 sdist for ``version`` (default: the installed one),
    downloading and extracting it into the cache the first time."""
    version = version or jinja2.__version__
    base = CACHE / f"jinja2-{version}"
    stamp = base / ".complete"
    if stamp.exists():
        return base
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"jinja2-{version}.tar.gz"
    if not archive.exists():
        try:
            with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
                got = _download_sdist(version, Path(tmp))
                os.replace(got, archive)
        except Exception as exc:
            raise SdistUnavailable(
                f"Could not download the Jinja2 {version} source distribution from PyPI "
                f"({type(exc).__name__}: {exc}). The Jinja compatibility test needs it once: "
                f"allow access to pypi.org and files.pythonhosted.org and run the tests again, "
                f"or fetch it yourself with `pip download --no-deps --no-binary :all: "
                f"jinja2=={version} -d {CACHE}`. It is kept in {CACHE} (outside git)."
            ) from exc
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    try:
        prefix = f"jinja2-{version}/"
        with tarfile.open(archive) as tar:
            members = [
                m
                for m in tar.getmembers()
                if m.name.startswith(prefix + "tests/") or m.name == prefix + "pyproject.toml"
            ]
            if not any(m.name == prefix + "tests/conftest.py" for m in members):
                raise SdistUnavailable(f"{archive} has no {prefix}tests/: not a Jinja2 sdist?")
            tar.extractall(tmp, members=members, filter="data")
        extracted = tmp / f"jinja2-{version}"
        (extracted / ".complete").write_text(
            hashlib.sha256(archive.read_bytes()).hexdigest() + "\n"
        )
        shutil.rmtree(base, ignore_errors=True)
        os.replace(extracted, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return base


# --------------------------------------------------------------------------- the runs


def _start(mode: str, suite: Path, results: Path) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_")) and k != "PYTHONPATH"
    }
    env.update(
        PL_JINJA_COMPAT_MODE=mode,
        PL_JINJA_COMPAT_RESULTS=str(results),
        PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        # Jinja's suite needs no third-party pytest plugin; not loading the venv's
        # (pytest-django among them) keeps the run hermetic and 2-3x faster
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        "-q",
        "-p",
        "no:django",
        "-p",
        "no:cacheprovider",
        "-p",
        "jinja_plugin",
        "--rootdir",
        str(suite),
        "--confcutdir",
        str(suite),
        "-o",
        "addopts=",
        "--tb=line",
        "--no-header",
        "-rN",
    ]
    log = open(results.with_suffix(".log"), "w")  # noqa: SIM115 - closed by the caller
    proc = subprocess.Popen(cmd, cwd=suite, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def run_suite(suite: Path, modes=("stock", "product", "reference")) -> dict[str, dict]:
    """Runs Jinja's suite in each mode (in parallel); {mode: results}."""
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="pl-jinja-compat-") as tmp:
        procs = {m: _start(m, suite, Path(tmp) / f"{m}.json") for m in modes}
        for mode, proc in procs.items():
            try:
                proc.wait(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                for p in procs.values():
                    p.kill()
                raise
            finally:
                proc.log.close()
            path = Path(tmp) / f"{mode}.json"
            if not path.exists():
                log = path.with_suffix(".log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"Jinja's suite ({mode}) wrote no results; its output:\n{log}")
            out[mode] = json.loads(path.read_text())
    return out


# --------------------------------------------------------------------------- comparison


@dataclass
class Entry:
    pattern: str
    category: str
    reason: str
    regex: re.Pattern
    match: re.Pattern | None
    hits: list[str] = field(default_factory=list)


def _glob(pattern: str) -> re.Pattern:
    """``*`` matches anything; every other character is literal (node ids contain [ ])."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def load_expected(path: Path | None = None) -> tuple[dict[str, dict], list[Entry]]:
    path = path or EXPECTED
    data = tomllib.loads(path.read_text())
    categories: dict[str, dict] = data["categories"]
    entries = []
    for group in data["expected"]:
        category = group["category"]
        if category not in categories:
            raise ValueError(f"{path.name}: unknown category {category!r}")
        reason = group.get("reason", "").strip()
        if not reason:
            raise ValueError(f"{path.name}: a group of {category!r} has no reason")
        match = re.compile(group["match"]) if group.get("match") else None
        for pattern in group["tests"]:
            entries.append(Entry(pattern, category, reason, _glob(pattern), match))
    return categories, entries


@dataclass
class Report:
    version: str
    total: int
    same: list[str]
    same_used: int  # of `same`: lexed, parsed, compiled or rendered with the product env
    expected: dict[str, list[str]]  # category -> node ids
    unexpected: list[tuple[str, str]]  # (node id, message)
    wrong_reason: list[tuple[str, str, str]]  # (node id, category, message)
    stale: list[Entry]
    stock_failures: list[tuple[str, str]]
    shared_with_reference: dict[str, int]
    not_in_reference: list[tuple[str, str]]  # (node id, category): should fail there too
    categories: dict[str, dict]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.wrong_reason or self.stale or self.not_in_reference)

    def text(self) -> str:
        n_expected = sum(len(v) for v in self.expected.values())
        lines = [
            f"Jinja2 {self.version} test suite against the PromptLedger environment "
            f"({self.seconds:.1f}s): {self.total} tests; {len(self.same)} same as stock "
            f"({self.same_used} of them lex, parse, compile or render with it), "
            f"{n_expected} expected differences, {len(self.unexpected)} unexpected"
            + (
                f", {len(self.wrong_reason)} failing for another reason than listed"
                if self.wrong_reason
                else ""
            )
            + (f", {len(self.stale)} stale list entries" if self.stale else ""),
            "Expected differences by category [of which also with stock "
            "SandboxedEnvironment(undefined=StrictUndefined)]:",
        ]
        for category, info in self.categories.items():
            ids = self.expected.get(category, [])
            shared = self.shared_with_reference.get(category, 0)
            lines.append(f"  {len(ids):4d} [{shared:3d}]  {category}: {info['title']}")
        if self.stock_failures:
            lines.append(
                f"Not counted: {len(self.stock_failures)} tests that do not pass in stock Jinja "
                "on this machine:"
            )
            lines += [f"  {n}: {m}" for n, m in self.stock_failures]
        if self.unexpected:
            lines.append(
                "UNEXPECTED differences (fix the renderer, or add them to "
                "tests/compat/jinja_expected_differences.toml with a reason):"
            )
            lines += [f"  {n}\n      {m}" for n, m in self.unexpected]
        if self.wrong_reason:
            lines.append("Listed tests failing for another reason than their entry's `match`:")
            lines += [f"  {n} [{c}]\n      {m}" for n, c, m in self.wrong_reason]
        if self.not_in_reference:
            lines.append(
                "Listed in a category stock sandboxed Jinja shares, but pass with "
                "SandboxedEnvironment(undefined=StrictUndefined) (move them to another category):"
            )
            lines += [f"  {n} [{c}]" for n, c in self.not_in_reference]
        if self.stale:
            lines.append(
                "STALE entries (they match no difference any more; remove them from "
                "tests/compat/jinja_expected_differences.toml):"
            )
            lines += [f"  {e.pattern}  [{e.category}]" for e in self.stale]
        return "\n".join(lines)


def compare(results: dict[str, dict], categories: dict[str, dict], entries: list[Entry]) -> Report:
    stock = results["stock"]["tests"]
    product = results["product"]["tests"]
    reference = results.get("reference", {}).get("tests", {})
    product_collect = results["product"]["collect_errors"]

    same, unexpected, wrong, stock_failures = [], [], [], []
    expected: dict[str, list[str]] = {}
    shared: dict[str, int] = {}
    not_in_reference = []
    for nodeid in sorted(stock):
        base = stock[nodeid]
        if base["outcome"] not in ("passed", "xfailed", "skipped"):
            stock_failures.append((nodeid, base["message"]))
            continue
        got = product.get(nodeid)
        if got is None:
            module = nodeid.split("::", 1)[0]
            got = {
                "outcome": "not collected",
                "message": product_collect.get(module, "not collected in the product run"),
            }
        if got["outcome"] == base["outcome"]:
            same.append(nodeid)
            continue
        message = f"{got['outcome']}: {got['message']}"
        entry = next((e for e in entries if e.regex.match(nodeid)), None)
        if entry is None:
            unexpected.append((nodeid, message))
            continue
        entry.hits.append(nodeid)
        if entry.match is not None and not entry.match.search(got["message"]):
            wrong.append((nodeid, entry.category, message))
        expected.setdefault(entry.category, []).append(nodeid)
        ref = reference.get(nodeid)
        if ref is not None and ref["outcome"] != base["outcome"]:
            shared[entry.category] = shared.get(entry.category, 0) + 1
        elif reference and categories[entry.category].get("also_in_reference"):
            not_in_reference.append((nodeid, entry.category))
    return Report(
        version=results["product"]["jinja2"],
        total=len(stock),
        same=same,
        same_used=sum(1 for n in same if product[n].get("used")),
        expected=expected,
        unexpected=unexpected,
        wrong_reason=wrong,
        stale=[e for e in entries if not e.hits],
        stock_failures=stock_failures,
        shared_with_reference=shared,
        not_in_reference=not_in_reference,
        categories=categories,
    )


def check() -> Report:
    started = time.monotonic()
    suite = ensure_jinja_tests()
    categories, entries = load_expected()
    results = run_suite(suite)
    for mode, data in results.items():
        if data["jinja2"] != jinja2.__version__:
            raise RuntimeError(f"{mode} run used Jinja2 {data['jinja2']}, not {jinja2.__version__}")
        if data.get("django_loaded"):
            raise RuntimeError(f"{mode} run imported Django: it must not load our test setup")
    report = compare(results, categories, entries)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str]) -> int:
    report = check()
    if "--json" in argv:
        json.dump(
            {
                "same": report.same,
                "expected": report.expected,
                "unexpected": report.unexpected,
                "stale": [e.pattern for e in report.stale],
            },
            sys.stdout,
            indent=1,
        )
        print()
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["SdistUnavailable", "check", "compare", "ensure_jinja_tests", "load_expected"]

"""`manage.py bench`: the benchmark. See prompts_app/bench/ and the README."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from prompts_app.bench import environment, harness


class Command(BaseCommand):
    help = (
        "Benchmark PromptLedger against baselines measured in the same run, on its own scratch "
        "PostgreSQL database and Redis db 5 (gunicorn started on 127.0.0.1 and stopped at the end). "
        "Prints a progress line per step, then a table; writes the same as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick", action="store_true", help="Fewer and shorter runs, smaller data (< 2 min)."
        )
        parser.add_argument(
            "--rows",
            default="",
            help="Comma-separated rows to run (default: all): "
            + ", ".join(harness.registered_rows()),
        )
        parser.add_argument(
            "--json",
            dest="json_path",
            default=str(environment.DEFAULT_JSON),
            help=f"Where to write the JSON report (default: {environment.DEFAULT_JSON.relative_to(settings.BASE_DIR)}).",
        )
        parser.add_argument(
            "--postgres",
            default="",
            help="PostgreSQL server to create the scratch database on, e.g. postgres://postgres@127.0.0.1:5432 "
            "(default: the configured one, else that).",
        )
        parser.add_argument(
            "--redis", default="", help="Redis server (db 5 is used; default: the configured one)."
        )
        parser.add_argument(
            "--keep-db",
            action="store_true",
            help="Keep the scratch database at the end (debugging).",
        )
        parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, quick, rows, json_path, postgres, redis, keep_db, child, **options):
        known = harness.registered_rows()
        names = [n.strip() for n in rows.split(",") if n.strip()] or list(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise CommandError(f"Unknown row(s): {', '.join(unknown)}. Rows: {', '.join(known)}.")
        targets = environment.Targets.from_settings(postgres or None, redis or None)
        json_file = Path(json_path)
        if not json_file.is_absolute():
            json_file = Path.cwd() / json_file
        if not child:
            return self._parent(
                targets,
                quick=quick,
                names=names,
                json_file=json_file,
                keep_db=keep_db,
                postgres=postgres,
                redis=redis,
            )
        return self._child(targets, quick=quick, names=names, json_file=json_file, keep_db=keep_db)

    # -- the process you start: re-run as a child pointed at the scratch database

    def _parent(self, targets, *, quick, names, json_file, keep_db, postgres, redis):
        cmd = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "bench",
            "--child",
            "--rows",
            ",".join(names),
            "--json",
            str(json_file),
        ]
        if quick:
            cmd.append("--quick")
        if keep_db:
            cmd.append("--keep-db")
        if postgres:
            cmd += ["--postgres", postgres]
        if redis:
            cmd += ["--redis", redis]
        self.stdout.write(
            f"bench: database {targets.database_url.rsplit('@', 1)[-1]}, redis {targets.redis_url.rsplit('@', 1)[-1]}"
            + (" (quick)" if quick else "")
        )
        self.stdout.flush()
        started = time.monotonic()
        child = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=targets.child_env())

        def forward(signum, frame):  # SIGTERM: let the child clean up, then go
            child.send_signal(signum)

        previous = signal.signal(signal.SIGTERM, forward)
        try:
            code = child.wait()
        except KeyboardInterrupt:
            # the child got the same Ctrl-C and is stopping gunicorn and dropping its database
            try:
                child.wait(timeout=90)
            except subprocess.TimeoutExpired:
                child.kill()
            raise CommandError("interrupted", returncode=130) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(f"bench: wall time {time.monotonic() - started:.1f} s")
        if code != 0:
            raise CommandError(f"the benchmark failed (exit {code}); see the output above")

    # -- the child: starts what the rows need, runs them, stops everything

    def _child(self, targets, *, quick, names, json_file, keep_db):
        def terminate(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, terminate)
        progress = harness.Progress(self.stdout)
        options = harness.Options(quick=quick, rows=names, json_path=json_file)
        env = environment.Environment(targets, progress, keep_db=keep_db)
        ctx = harness.Context(options, progress, env)
        load_start = harness.load_average()
        progress(f"rows: {', '.join(names)}" + (" (quick)" if quick else ""))
        try:
            outcomes = harness.run_rows(ctx, names, env.ensure)
        except KeyboardInterrupt:
            progress("interrupted: stopping gunicorn and dropping the scratch database")
            env.close()
            raise SystemExit(130) from None
        except environment.BenchError as exc:
            env.close()
            raise CommandError(str(exc)) from None
        except BaseException:
            env.close()
            raise
        env.close()
        from prompts_app.bench import load

        meta = {
            **env.meta,
            "load_generator": load.tool_name(),
            "wall_seconds": round(progress.elapsed(), 1),
            "load_average": {"start": load_start, "end": harness.load_average()},
        }
        data = harness.report(outcomes, options=options, meta=meta)
        self.stdout.write("")
        self.stdout.write(harness.table(outcomes))
        summary = data["summary"]
        self.stdout.write("")
        self.stdout.write(
            f"targets met: {summary['met']}/{summary['targets']}"
            + (f"; missed: {'; '.join(summary['missed'])}" if summary["missed"] else "")
            + (
                f"; failed rows: {', '.join(summary['failed_rows'])}"
                if summary["failed_rows"]
                else ""
            )
        )
        self.stdout.write(
            f"load average {meta['load_average']['start']} at the start, {meta['load_average']['end']} at the "
            f"end, on {data['meta']['cpus']} cpus: each ratio compares figures measured side by side"
        )
        harness.write_json(json_file, data)
        self.stdout.write(f"wrote {json_file} (wall time {meta['wall_seconds']} s)")
        if summary["failed_rows"]:
            raise CommandError(f"row(s) failed: {', '.join(summary['failed_rows'])}")

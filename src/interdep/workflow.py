"""What every Snakemake script does around its one package call: send stdout, stderr and logging to the
rule's log file (spreg prints to stdout), and turn an :class:`InputError` into one clear line and exit 1."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from interdep.errors import EstimationError, InputError


@contextlib.contextmanager
def logged(log_path: str | Path) -> Iterator[logging.Logger]:
    """Redirect output to ``log_path`` for the duration; on a user-facing error, print it to the real stderr.

    The error is also written to the log, and the process exits with status 1 so that Snakemake marks the
    job failed and removes its outputs.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    real_stderr = sys.stderr
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("interdep")
        except (InputError, EstimationError) as err:
            print(f"ERROR: {err}", file=log)
            print(f"interdep: {type(err).__name__}: {err}", file=real_stderr)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=log)  # into the log: the log file is closed before Python would print it
            raise
        finally:
            root.removeHandler(handler)


@contextlib.contextmanager
def parse_time_checks() -> Iterator[None]:
    """Around the Snakefile's checks of the config: an :class:`InputError` stops Snakemake with one line
    (``interdep: InputError: ...``) instead of a traceback through the package."""
    try:
        yield
    except InputError as err:
        raise SystemExit(f"interdep: InputError: {err}") from None

"""``interdep``: Snakemake with the same arguments, after checking every config file it would read.

Snakemake evaluates a config file while loading it, before the Snakefile can check anything: with
``__use_yte__: true`` at its top, ``?expr`` values are run as Python (even on a dry run), and aliases nested a few
levels deep expand to billions of values in its merge of configs. ``interdep`` finds the config files exactly as
Snakemake will (its own argument parser, profiles included), reads each with
:func:`interdep.config.load_config_file` (plain YAML data only) and only then hands the arguments to Snakemake.
Use it for any config file you did not write; ``make run`` uses it.
"""

from __future__ import annotations

import contextlib
import io
import sys

from interdep.config import check_config_files
from interdep.errors import InputError


def config_files(argv: list[str]) -> list[str]:
    """The config files Snakemake would load for these arguments (``--configfile`` and profiles' ``configfile``)."""
    from snakemake.cli import parse_args

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _, args = parse_args(argv)  # prints "Using profile ..."; Snakemake prints it again when it runs
    except (SystemExit, Exception):  # bad arguments: Snakemake reports them, and loads no config
        return []
    return [str(f) for f in (args.configfile or [])]


def main(argv: list[str] | None = None) -> None:
    """Check the config files, then run Snakemake (exit status 1 with one ``interdep: ...`` line on a bad file)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        check_config_files(config_files(argv))
    except InputError as err:
        print(f"interdep: InputError: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    from snakemake.cli import main as snakemake_main

    snakemake_main(argv)


if __name__ == "__main__":
    main()

"""``lakehose serve``: run the server. Every setting is a flag here (see ``config.HELP``)."""

from __future__ import annotations

from typing import Any

import click

from lakehose.config import _HINTS, FIELDS, HELP, load_settings


def _setting_options(fn: Any) -> Any:
    for name in reversed(list(FIELDS)):
        flag = "--" + name.replace("_", "-")
        if _HINTS[name] is bool:
            no_flag = "--no-" + name.replace("_", "-")
            fn = click.option(f"{flag}/{no_flag}", name, default=None, help=HELP[name])(fn)
        else:
            fn = click.option(flag, name, default=None, help=HELP[name], metavar="VALUE")(fn)
    return fn


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration file (default: $LAKEHOSE_CONFIG, else ./lakehose.toml)",
)
@_setting_options
def serve(config_file: str | None, **flags: Any) -> None:
    """Run the HEC server and the event lake.

    Settings come from flags, then LAKEHOSE_* environment variables, then the TOML
    file, then defaults. On the first start of an empty data directory a connector
    named "default" is created and its API key printed once.
    """
    from lakehose.logs import configure_logging
    from lakehose.server.supervisor import Supervisor

    settings = load_settings(flags, config_file=config_file)
    configure_logging(settings.log_level, settings.log_format)
    try:
        code = Supervisor(settings, announce=click.echo).run()
    except KeyboardInterrupt:  # Ctrl-C before the server was up: nothing to drain
        code = 0
    raise SystemExit(code)

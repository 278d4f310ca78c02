"""The ``qxub`` command: options in, a job spec and a run out; everything else is the engine's.

``qxub [options] -- command args...`` (also ``qxub exec ...``) runs a command as a job;
``qxub config list|get|set|path`` shows and changes configuration. Bad options and values are
refused with one line on stderr and exit code 2 before anything is created or submitted.

Only click is imported at start-up; the engine's modules are imported when a command runs, so
``qxub --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from qxub_core import __version__
from qxub_core.logs import configure_logging

if TYPE_CHECKING:
    from qxub_core.config import Configuration
    from qxub_core.schedulers.base import Scheduler
    from qxub_core.spec import JobSpec

logger = logging.getLogger(__name__)

USAGE_ERROR = 2  # as qxub_core.exitcodes.USAGE_ERROR, without importing it at start-up
NEVER_RAN = 125
INTERRUPTED = 130

COMMAND_KEY = "qxub.command"
SEPARATOR_KEY = "qxub.separator"
HELP_OPTIONS = ["-h", "--help"]

# Job options that are configuration keys too: key -> the option's name in messages.
CONFIGURED_OPTIONS = {
    "scheduler": "--scheduler",
    "name": "--name",
    "project": "--project",
    "queue": "--queue",
    "cpus": "--cpus",
    "mem": "--mem",
    "runtime": "--runtime",
    "gpus": "--gpus",
    "disk": "--disk",
    "storage": "--storage",
}
MODE_FLAGS = ("terse", "quiet", "no_wait")


class UsageProblem(click.UsageError):
    """A usage error qxub words itself; shown as one line, exit code 2."""


class JobCommand(click.Command):
    """A command whose own argv is everything after the first ``--``, taken verbatim."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            split = args.index("--")
            ctx.meta[COMMAND_KEY] = args[split + 1 :]
            ctx.meta[SEPARATOR_KEY] = True
            args = args[:split]
        else:
            ctx.meta[COMMAND_KEY] = []
            ctx.meta[SEPARATOR_KEY] = False
        return super().parse_args(ctx, args)


class QxubGroup(click.Group):
    """``qxub`` itself: anything that is not a subcommand's name is a job to run."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        passthrough = {*self.commands, *HELP_OPTIONS, "--version"}
        if not args or args[0] not in passthrough:
            args = ["exec", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("qxub", "[OPTIONS] -- COMMAND [ARGS]...")
        formatter.write_usage("qxub", "[OPTIONS] --shell LINE", prefix="       ")
        formatter.write_usage("qxub", "config list|get|set|path", prefix="       ")
        formatter.write_usage("qxub", "plugins", prefix="       ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The job options (the default command's) and qxub's own, then the subcommands."""
        job_command = self.commands["exec"]
        job_context = click.Context(job_command, info_name="qxub")
        job_parameters = [(parameter, job_context) for parameter in job_command.params]
        own_parameters = [(parameter, ctx) for parameter in self.get_params(ctx)]
        records = [
            record
            for parameter, context in [*job_parameters, *own_parameters]
            if (record := parameter.get_help_record(context)) is not None
        ]
        with formatter.section("Options"):
            formatter.write_dl(records)
        self.format_commands(ctx, formatter)


# The job command ------------------------------------------------------------------------------


@click.group(cls=QxubGroup, context_settings={"help_option_names": HELP_OPTIONS})
@click.version_option(__version__, "--version", prog_name="qxub", message="%(prog)s %(version)s")
def cli() -> None:
    """Run COMMAND as a batch job as if at your own prompt: its output streams live, Ctrl-C
    cancels the job, and qxub's exit code is the job's. Everything after '--' is the command,
    passed on exactly as typed.
    """


@cli.command(
    "exec",
    cls=JobCommand,
    # Options end at the first word that is not one, so `qxub python3 -c x` names `python3`.
    context_settings={"help_option_names": HELP_OPTIONS, "allow_interspersed_args": False},
)
@click.argument("stray", nargs=-1, metavar="-- COMMAND [ARGS]...")
@click.option("-N", "--name", help="Job name (default: the command's name).")
@click.option("-P", "--project", help="Project (account) to charge.")
@click.option("-q", "--queue", help="Queue (partition).")
@click.option("--cpus", metavar="N", help="CPUs for the job.")
@click.option("--mem", metavar="SIZE", help="Memory: 512MB, 16GB, 1.5TB (1GB = 1024MB).")
@click.option("--runtime", "--walltime", "runtime", metavar="TIME", help="90m, 2h30m, 01:30:00.")
@click.option("--gpus", metavar="N", help="GPUs for the job.")
@click.option("--disk", metavar="SIZE", help="Local disk (PBS jobfs): 100GB.")
@click.option("--execdir", metavar="DIR", help="Working directory (default: the current one).")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Set a variable.")
@click.option("--clean-env", is_flag=True, help="Login environment instead of this one.")
@click.option("--out", "out_copy", metavar="PATH", help="Also copy the job's stdout to PATH.")
@click.option("--err", "err_copy", metavar="PATH", help="Also copy the job's stderr to PATH.")
@click.option("--env", "conda_env", metavar="NAME", help="Conda environment to activate.")
@click.option("--mod", "modules", multiple=True, metavar="NAME", help="Module to load.")
@click.option("--sif", "image", metavar="IMAGE", help="Run inside a Singularity/Apptainer image.")
@click.option("--bind", "binds", multiple=True, metavar="SPEC", help="Bind path into the image.")
@click.option("--shell", "shell_line", metavar="LINE", help="Run one bash line on purpose.")
@click.option("--scheduler", metavar="NAME", help="auto, local, pbs or slurm.")
@click.option("--terse", is_flag=True, help="Print the job id only, then wait silently.")
@click.option("--quiet", is_flag=True, help="Print nothing; the exit code only.")
@click.option("--no-wait", is_flag=True, help="Submit, print the job id, return at once.")
@click.option("--dry", is_flag=True, help="Print the job script and submit command only.")
@click.option("-l", "--resources", "raw_resources", multiple=True, metavar="RES", help="PBS -l.")
@click.option("--scheduler-args", multiple=True, metavar="ARGS", help="Raw submit arguments.")
@click.option("--storage", metavar="LIST", help="PBS storage list: gdata/ab12+scratch/ab12.")
@click.pass_context
def exec_command(ctx: click.Context, /, **options: Any) -> None:
    """Run a command as a job (the default when no subcommand is named)."""
    command = _job_argv(ctx, options.pop("stray"), options["shell_line"])
    mode = _mode(options)
    configuration = _configuration(options)
    spec = build_spec(command, options, configuration)
    scheduler = _scheduler(configuration)
    script, submit_command = _rendered(spec, scheduler, configuration)

    if options["dry"]:
        _print_dry_run(scheduler.name, script, submit_command)
        ctx.exit(0)
    ctx.exit(_run(spec, scheduler, configuration, mode))


def _job_argv(ctx: click.Context, stray: Sequence[str], shell_line: str | None) -> list[str]:
    command: list[str] = ctx.meta[COMMAND_KEY]
    if stray:
        raise UsageProblem(f"unexpected argument {stray[0]!r}: put the command after '--'")
    if shell_line is not None:
        if command:
            raise UsageProblem("--shell takes the whole line as its value; give no command")
        return [shell_line]
    if not ctx.meta[SEPARATOR_KEY]:
        raise UsageProblem("the command must follow '--': qxub [options] -- COMMAND [ARGS]...")
    if not command:
        raise UsageProblem("no command after '--': qxub [options] -- COMMAND [ARGS]...")
    return command


def _mode(options: dict[str, Any]) -> str:
    """The mode's name (``Mode`` value): normal, terse, quiet or no-wait."""
    chosen = [flag for flag in MODE_FLAGS if options[flag]]
    if len(chosen) > 1:
        named = " and ".join("--" + flag.replace("_", "-") for flag in chosen)
        raise UsageProblem(f"{named} cannot be combined: choose one mode")
    return chosen[0].replace("_", "-") if chosen else "normal"


def _configuration(options: dict[str, Any]) -> Configuration:
    from qxub_core.config import load_configuration

    configuration = load_configuration()
    values = {key: options[key] for key in CONFIGURED_OPTIONS}
    return configuration.with_overrides(values, CONFIGURED_OPTIONS)


def build_spec(
    command: Sequence[str], options: dict[str, Any], configuration: Configuration
) -> JobSpec:
    """The job spec for a command line, every value checked (``SpecError`` names the option)."""
    from qxub_core import job_request

    return job_request.build_spec(command, options, configuration)


def _scheduler(configuration: Configuration) -> Scheduler:
    """The adapter the configuration names; an unknown name set in a file or variable is
    refused naming that file or variable, as any other bad configured value is."""
    from qxub_core.config import SOURCE_COMMAND_LINE, ConfigError
    from qxub_core.schedulers import UnknownSchedulerError, make_scheduler

    try:
        return make_scheduler(configuration["scheduler"], configuration.as_options())
    except UnknownSchedulerError as error:
        setting = configuration.settings["scheduler"]
        if setting.source == SOURCE_COMMAND_LINE or not setting.origin:
            raise
        raise ConfigError(f"{setting.origin}: scheduler: {error}") from None


def _rendered(
    spec: JobSpec, scheduler: Scheduler, configuration: Configuration
) -> tuple[str, list[str]]:
    """The job script and submit command as they would be, rendered before anything exists so
    that adapters and plugins refuse bad values up front (the job flow renders its own)."""
    from qxub_core.jobdir import new_job_dir_path
    from qxub_core.script import render_script
    from qxub_core.status import SCRIPT_FILE

    job_dir = new_job_dir_path(Path(configuration["job_root"]).absolute(), spec.name)
    spec = _with_plugin_arguments(spec, scheduler)
    script = render_script(spec, scheduler, job_dir)
    return script, scheduler.submit_command(job_dir / SCRIPT_FILE, job_dir, spec)


def _print_dry_run(scheduler_name: str, script: str, submit_command: list[str]) -> None:
    from qxub_core.script import shell_words

    submit = shell_words(submit_command)
    text = f"{script}\n# Submit command ({scheduler_name}; nothing was submitted):\n# {submit}\n"
    try:
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        sys.stdout.flush()
    except BrokenPipeError:
        # A reader such as `head` stopped early: what it read is all that was wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _with_plugin_arguments(spec: JobSpec, scheduler: Scheduler) -> JobSpec:
    """The spec as it will be submitted: with the plugins' submit arguments, checked alike."""
    from qxub_core.plugins import default_plugins
    from qxub_core.submission import with_plugin_arguments

    return with_plugin_arguments(spec, scheduler.name, default_plugins())


def _run(spec: JobSpec, scheduler: Scheduler, configuration: Configuration, mode: str) -> int:
    from qxub_core.job import Mode, RunOptions, run_job

    options = RunOptions(
        job_root=Path(configuration["job_root"]).absolute(),
        mode=Mode(mode),
        poll_interval_s=configuration["poll_interval_s"],
        fallback_interval_s=configuration["fallback_interval_s"],
        grace_period_s=configuration["grace_period_s"],
        hand_off_usage=True,
    )
    return run_job(spec, scheduler, options)


# Configuration commands -----------------------------------------------------------------------


@cli.group("config", context_settings={"help_option_names": HELP_OPTIONS})
def config_group() -> None:
    """Show or change configuration (defaults < system < user < project < QXUB_* < options)."""


@config_group.command("list")
def config_list() -> None:
    """Every key with its value and where the value comes from."""
    from qxub_core.config import format_value, load_configuration

    settings = load_configuration().settings.values()
    width = max(len(setting.key) for setting in settings)
    for setting in settings:
        value = format_value(setting.value, unset="(unset)")
        click.echo(f"{setting.key:<{width}} = {value}  ({setting.describe_source()})")


@config_group.command("get")
@click.argument("key")
@click.option("--source", is_flag=True, help="Also print where the value comes from.")
def config_get(key: str, source: bool) -> None:
    """Print one key's value (empty when unset)."""
    from qxub_core.config import KEYS, format_value, load_configuration, valid_keys

    if key not in KEYS:
        raise UsageProblem(f"unknown key {key!r}; valid keys: {valid_keys()}")
    setting = load_configuration().settings[key]
    value = format_value(setting.value)
    click.echo(f"{value}\t({setting.describe_source()})" if source else value)


@config_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@click.option("--project", "in_project", is_flag=True, help="Write the project's .qxub.yaml.")
def config_set(key: str, value: str, in_project: bool) -> None:
    """Set KEY to VALUE in the user file (or the project file with --project)."""
    from qxub_core.config import (
        PROJECT_FILE,
        config_files,
        format_value,
        write_config_value,
    )

    files = config_files()
    project_file = files.project or Path.cwd() / PROJECT_FILE
    path = project_file if in_project else files.user
    stored = write_config_value(path, key, value)
    click.echo(f"qxub: {key} = {format_value(stored)} in {path}", err=True)


@config_group.command("path")
def config_path() -> None:
    """The configuration files read, lowest precedence first."""
    from qxub_core.config import PROJECT_FILE, SOURCE_PROJECT, config_files

    files = config_files()
    for source, path in files.layers():
        state = "" if path.exists() else "  (absent)"
        click.echo(f"{source:<12} {path}{state}")
    if files.project is None:
        click.echo(f"{SOURCE_PROJECT:<12} (no {PROJECT_FILE} here or above)")


# Plugins --------------------------------------------------------------------------------------


@cli.command("plugins")
def plugins_command() -> None:
    """The loaded plugins, where each comes from and the hooks it implements."""
    from qxub_core.plugins import default_plugins

    plugins = default_plugins()
    for info in plugins.describe():
        click.echo(f"{info.name}  ({info.source}: {info.origin})")
        click.echo(f"    hooks: {', '.join(info.hooks)}")
    click.echo(f"schedulers: {', '.join(plugins.scheduler_names())}")
    click.echo(f"contexts: {', '.join(plugins.context_names())}")


# Entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``qxub`` console script.

    It ends with ``os._exit`` once its output is flushed: by then every job is settled and
    observers have had their time, and skipping the interpreter's teardown of the modules
    loaded is most of what stands between a job's end and the user's prompt.
    """
    configure_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    code = _invoke(args)

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _invoke(args: list[str]) -> int:
    from qxub_core.spec import SpecError

    try:
        result = cli.main(args=args, prog_name="qxub", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.Abort:
        return INTERRUPTED
    except click.UsageError as error:
        return _refuse_usage(error)
    except click.ClickException as error:
        return _refuse(error.format_message(), error.exit_code)
    except SpecError as error:
        return _refuse(str(error), USAGE_ERROR)
    except ValueError as error:
        return _refuse_value_error(error)
    except OSError as error:
        return _refuse(_os_error_line(error), NEVER_RAN)
    except RuntimeError as error:
        return _refuse_runtime_error(error)
    except KeyboardInterrupt:
        return INTERRUPTED
    return int(result) if isinstance(result, int) else 0


def _refuse_usage(error: click.UsageError) -> int:
    """One line for a bad command line; the whole help when a group was named on its own
    (``qxub config``): that is a question about what it takes, not a mistake to squeeze."""
    if error.ctx is not None and type(error).__name__ == "NoArgsIsHelpError":
        click.echo(error.ctx.get_help(), err=True)
        return USAGE_ERROR
    return _refuse(error.format_message(), error.exit_code)


def _refuse_value_error(error: ValueError) -> int:
    """Unknown scheduler or context names are bad values; anything else is a defect."""
    from qxub_core.plugins import UnknownContextError
    from qxub_core.schedulers import UnknownSchedulerError

    if isinstance(error, (UnknownSchedulerError, UnknownContextError)):
        return _refuse(str(error), USAGE_ERROR)
    raise error


def _refuse_runtime_error(error: RuntimeError) -> int:
    """A plugin that failed while the job was prepared: nothing was submitted."""
    from qxub_core.plugins import PluginError

    if isinstance(error, PluginError):
        return _refuse(str(error), NEVER_RAN)
    raise error


def _refuse(message: str, exit_code: int) -> int:
    first_line = " ".join(message.split())
    print(f"qxub: {first_line}", file=sys.stderr)
    return exit_code


def _os_error_line(error: OSError) -> str:
    if error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)

"""Layered configuration: built-in defaults, YAML files, ``QXUB_<KEY>`` variables, options.

Layers, later ones winning:

1. built-in defaults;
2. the system file (platformdirs' site config directory, ``/etc/xdg/qxub/config.yaml``);
3. the user file (platformdirs' user config directory, ``~/.config/qxub/config.yaml``);
4. the project file (``.qxub.yaml`` in the working directory or the nearest directory above);
5. ``QXUB_<KEY>`` environment variables (``QXUB_JOB_ROOT``, ``QXUB_POLL_INTERVAL_S``...);
6. command-line options.

Every value remembers which layer gave it. Unknown keys in files are refused with the list of
valid keys. ``QXUB_*`` variables that are not keys (``QXUB_LOG_LEVEL``, ``QXUB_LOCAL_JOB_ID``...)
belong to other parts of qxub and are never refused here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qxub_core.spec import SpecError, parse_memory_bytes, parse_walltime_s

APP_NAME = "qxub"
CONFIG_FILE = "config.yaml"
PROJECT_FILE = ".qxub.yaml"
ENV_PREFIX = "QXUB_"

SOURCE_DEFAULT = "default"
SOURCE_SYSTEM = "system file"
SOURCE_USER = "user file"
SOURCE_PROJECT = "project file"
SOURCE_ENVIRONMENT = "environment"
SOURCE_COMMAND_LINE = "command line"


class ConfigError(SpecError):
    """A configuration file or value cannot be used; the message is one line for the user."""


Parser = Callable[[object, str], Any]


@dataclass(frozen=True)
class Key:
    """One configuration key: how its values are read and its default (docs/configuration.md
    says what each means)."""

    name: str
    parse: Parser
    default: Any

    @property
    def env_var(self) -> str:
        return f"{ENV_PREFIX}{self.name.upper()}"


@dataclass(frozen=True)
class Setting:
    """A key's value and where it came from (``source``, plus the file or variable: ``origin``)."""

    key: str
    value: Any
    source: str
    origin: str = ""

    def describe_source(self) -> str:
        return f"{self.source} {self.origin}" if self.origin else self.source


def _text(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ConfigError(f"{where}: the value is empty")
    return text


def _choice(*choices: str) -> Parser:
    def parse(value: object, where: str) -> str:
        text = _text(value, where).lower()
        if text not in choices:
            raise ConfigError(f"{where}: {text!r} is not one of {', '.join(choices)}")
        return text

    return parse


def _scheduler_name(value: object, where: str) -> str:
    text = _text(value, where).lower()
    if not re.fullmatch(r"[a-z0-9_-]+", text):
        raise ConfigError(f"{where}: {text!r} is not a scheduler name (auto, local, pbs, slurm)")
    return text


def _seconds(minimum_s: float, inclusive: bool) -> Parser:
    def parse(value: object, where: str) -> float:
        try:
            seconds = float(_text(value, where))
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a number of seconds") from None
        too_small = seconds < minimum_s if inclusive else seconds <= minimum_s
        if too_small or seconds != seconds or seconds == float("inf"):
            bound = f"at least {minimum_s:g}" if inclusive else f"more than {minimum_s:g}"
            raise ConfigError(f"{where}: {value!r} must be {bound} seconds")
        return seconds

    return parse


# More CPUs or GPUs than any one job is given: a larger count is a typing slip.
MAX_COUNT = 1_000_000


def _count(minimum: int) -> Parser:
    def parse(value: object, where: str) -> int:
        text = _text(value, where)
        if not re.fullmatch(r"\d+", text) or int(text) < minimum:
            raise ConfigError(f"{where}: {value!r} is not a whole number of at least {minimum}")
        if int(text) > MAX_COUNT:
            raise ConfigError(
                f"{where}: {value!r} is more than the most qxub asks for, {MAX_COUNT}"
            )
        return int(text)

    return parse


def _memory(value: object, where: str) -> str:
    text = _text(value, where)
    try:
        parse_memory_bytes(text, where)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    return text


def _duration(value: object, where: str) -> str:
    text = _text(value, where)
    try:
        parse_walltime_s(text, where)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None
    return text


_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_VARIABLE_REFERENCE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def _path(value: object, where: str) -> Path:
    """A path with ``~`` and ``$NAME``/``${NAME}`` expanded; an unset variable is refused."""
    text = _text(value, where)
    unset = [
        name
        for match in _VARIABLE_REFERENCE.finditer(text)
        if (name := match.group(1) or match.group(2)) not in os.environ
    ]
    if unset:
        raise ConfigError(f"{where}: {text!r} uses ${unset[0]}, which is not set")

    path = Path(os.path.expandvars(text)).expanduser()
    if _CONTROL_CHARACTER.search(str(path)):
        # Job directories are named in directive lines, which a line break would cut short.
        raise ConfigError(f"{where}: {str(path)!r} contains a control character (a line break?)")
    return path


def _default_job_root() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME) / "jobs"


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("scheduler", _scheduler_name, "auto"),
        Key("job_root", _path, None),
        Key("poll_interval_s", _seconds(0, False), 0.1),
        Key("fallback_interval_s", _seconds(0, False), 60.0),
        Key("grace_period_s", _seconds(0, True), 10.0),
        Key("pbs_resource_form", _choice("select", "plain"), "select"),
        Key("name", _text, None),
        Key("project", _text, None),
        Key("queue", _text, None),
        Key("cpus", _count(1), None),
        Key("mem", _memory, None),
        Key("runtime", _duration, None),
        Key("gpus", _count(0), None),
        Key("disk", _memory, None),
        Key("storage", _text, None),
    )
}


def valid_keys() -> str:
    return ", ".join(KEYS)


def parse_value(key: str, value: object, where: str) -> Any:
    """``value`` read as ``key`` demands; :class:`ConfigError` naming ``where`` otherwise."""
    if key not in KEYS:
        raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {valid_keys()}")
    return KEYS[key].parse(value, where)


@dataclass(frozen=True)
class ConfigFiles:
    """The configuration files this invocation reads, in precedence order."""

    system: Path
    user: Path
    project: Path | None

    def layers(self) -> Iterator[tuple[str, Path]]:
        yield SOURCE_SYSTEM, self.system
        yield SOURCE_USER, self.user
        if self.project is not None:
            yield SOURCE_PROJECT, self.project


def config_files(cwd: Path | None = None) -> ConfigFiles:
    """Where the system, user and (nearest) project files are for a working directory."""
    from platformdirs import site_config_path, user_config_path

    return ConfigFiles(
        system=site_config_path(APP_NAME) / CONFIG_FILE,
        user=user_config_path(APP_NAME) / CONFIG_FILE,
        project=find_project_file(cwd or Path.cwd()),
    )


def find_project_file(start: Path) -> Path | None:
    """The ``.qxub.yaml`` in ``start`` or the nearest directory above it."""
    for directory in (start, *start.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


class Configuration:
    """The resolved value of every key, each with its source."""

    def __init__(self, settings: Mapping[str, Setting], files: ConfigFiles) -> None:
        self.settings = dict(settings)
        self.files = files

    def __getitem__(self, key: str) -> Any:
        return self.settings[key].value

    def with_overrides(
        self, values: Mapping[str, object], options: Mapping[str, str] | None = None
    ) -> Configuration:
        """A copy where the given non-``None`` values win, as given by command-line ``options``
        (key to option name, for messages and sources)."""
        settings = dict(self.settings)
        for key, value in values.items():
            if value is None:
                continue
            option = (options or {}).get(key, key)
            settings[key] = Setting(
                key, parse_value(key, value, option), SOURCE_COMMAND_LINE, option
            )
        return Configuration(settings, self.files)

    def as_options(self) -> dict[str, Any]:
        """Every key's value, for scheduler adapters and the job flow."""
        return {key: setting.value for key, setting in self.settings.items()}


def load_configuration(
    cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> Configuration:
    """Read every layer up to the environment; command-line values come later."""
    files = config_files(cwd)
    settings = {key.name: Setting(key.name, key.default, SOURCE_DEFAULT) for key in KEYS.values()}
    settings["job_root"] = replace(settings["job_root"], value=_default_job_root())

    for source, path in files.layers():
        for key, value in read_config_file(path).items():
            settings[key] = Setting(key, value, source, str(path))
    for key, setting in _environment_settings(os.environ if environ is None else environ):
        settings[key] = setting
    return Configuration(settings, files)


def read_config_file(path: Path) -> dict[str, Any]:
    """The checked values of one YAML file; empty when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc}") from exc

    document = _load_yaml(path, text)
    unknown = [str(key) for key in document if key not in KEYS]
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key {unknown[0]!r}; valid keys: {valid_keys()}"
        )
    return {key: parse_value(key, value, f"{path}: {key}") for key, value in document.items()}


def write_config_value(path: Path, key: str, value: object) -> Any:
    """Set ``key`` in the YAML file ``path`` (created when missing); the value as stored."""
    import yaml

    parsed = parse_value(key, value, key)
    document = _load_yaml(path, path.read_text(encoding="utf-8")) if path.exists() else {}
    document[key] = str(parsed) if isinstance(parsed, Path) else parsed

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    temporary.replace(path)
    return parsed


def format_value(value: object, unset: str = "") -> str:
    """A value as ``config get`` and ``config list`` show it (``unset`` for no value)."""
    if value is None:
        return unset
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _load_yaml(path: Path, text: str) -> dict[Any, Any]:
    import yaml

    try:
        document = yaml.load(text, Loader=_unique_key_loader(path))  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path}: not valid YAML{where}: {problem}") from exc

    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path}: expected 'key: value' lines at the top level")
    return document


def _unique_key_loader(path: Path) -> type:
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
    silently, so a setting the user sees in the file would not be the one used)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise ConfigError(
                        f"config file {path}: key {key!r} is given twice (line {line})"
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _environment_settings(environ: Mapping[str, str]) -> Iterator[tuple[str, Setting]]:
    for key in KEYS.values():
        raw = environ.get(key.env_var)
        if raw is None or raw == "":
            continue
        value = key.parse(raw, key.env_var)
        yield key.name, Setting(key.name, value, SOURCE_ENVIRONMENT, key.env_var)

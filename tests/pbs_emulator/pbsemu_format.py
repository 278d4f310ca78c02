"""How the emulated qstat prints jobs: the listing, ``-f`` text and ``-f -F json``.

The layouts follow the recorded OpenPBS 23.06 output byte for byte: attribute order, the
folding of long ``-f`` values at 78 columns with one TAB on each continuation line, and the
tab-indented JSON in which every value that looks like a number is written unquoted, as is,
even when that makes the document invalid (``005``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from pbsemu_state import VERSION, setting

LINE_LIMIT = 78
_NUMBER_LIKE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

# The order qstat -f prints a job's attributes in; groups expand to their sorted members.
ATTRIBUTE_ORDER = (
    "Job_Name", "Job_Owner", "resources_used", "job_state", "queue", "server", "Checkpoint",
    "ctime", "Error_Path", "exec_host", "exec_vnode", "Hold_Types", "Join_Path", "Keep_Files",
    "Mail_Points", "mtime", "Output_Path", "Priority", "qtime", "Rerunable", "Resource_List",
    "stime", "obittime", "session_id", "jobdir", "substate", "umask", "Variable_List", "comment",
    "etime", "run_count", "Stageout_status", "Exit_status", "Submit_arguments", "executable",
    "argument_list", "history_timestamp", "project", "Submit_Host",
)  # fmt: skip
GROUPS = ("resources_used", "Resource_List")


def attributes(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """The job's attributes in print order; groups and Variable_List stay structured."""
    values: dict[str, Any] = record["attrs"]
    return [(name, values[name]) for name in ATTRIBUTE_ORDER if name in values]


def full_text(record: dict[str, Any]) -> str:
    lines = [f"Job Id: {record['id']}"]
    for name, value in attributes(record):
        if name in GROUPS:
            lines.extend(fold(f"{name}.{key}", str(value[key])) for key in sorted(value))
        elif name == "Variable_List":
            lines.append(fold(name, ",".join(f"{key}={item}" for key, item in value)))
        else:
            lines.append(fold(name, str(value)))
    return "\n".join(lines) + "\n\n"


def fold(name: str, value: str) -> str:
    """``    name = value``, folded the way qstat folds: at commas, else mid-token."""
    text = f"    {name} = "
    column = len(text)
    pieces = value.split(",")
    for index, piece in enumerate(pieces):
        if column + len(piece) <= LINE_LIMIT:
            text += piece
            column += len(piece)
        else:
            if index > 0:
                text += "\n\t"
                column = 9
            text, column = _break_piece(text, column, piece)
        if index < len(pieces) - 1:
            text += ","
            column += 1
    return text


def _break_piece(text: str, column: int, piece: str) -> tuple[str, int]:
    for character in piece:
        text += character
        column += 1
        if column > LINE_LIMIT:
            text += "\n\t"
            column = 8
    return text, column


def json_document(records: list[dict[str, Any]]) -> str:
    lines = ["{", f'\t"timestamp":\t{int(time.time())},', f'\t"pbs_version":\t"{VERSION}",']
    if not records:
        lines.append(f'\t"pbs_server":\t"{setting("SERVER")}"')
        return "\n".join(lines + ["}"]) + "\n"

    lines.append(f'\t"pbs_server":\t"{setting("SERVER")}",')
    lines.append('\t"Jobs":\t{')
    for index, record in enumerate(records):
        comma = "," if index < len(records) - 1 else ""
        lines.append(f'\t\t"{record["id"]}":\t{{')
        lines.extend(_json_members(_json_attributes(record), 3))
        lines.append("\t\t}" + comma)
    lines.extend(["\t}", "}"])
    return "\n".join(lines) + "\n"


def _json_attributes(record: dict[str, Any]) -> list[tuple[str, Any]]:
    members: list[tuple[str, Any]] = []
    for name, value in attributes(record):
        if name in GROUPS:
            members.append((name, [(key, value[key]) for key in sorted(value)]))
        elif name == "Variable_List":
            members.append((name, [(key, item) for key, item in value]))
        else:
            members.append((name, value))
    return members


def _json_members(members: list[tuple[str, Any]], depth: int) -> list[str]:
    indent = "\t" * depth
    lines: list[str] = []
    for index, (name, value) in enumerate(members):
        comma = "," if index < len(members) - 1 else ""
        if isinstance(value, list):
            lines.append(f'{indent}"{name}":\t{{')
            lines.extend(_json_members(value, depth + 1))
            lines.append(f"{indent}}}{comma}")
        else:
            lines.append(f'{indent}"{name}":\t{json_value(str(value))}{comma}')
    return lines


def json_value(text: str) -> str:
    """A number-looking value goes out as it is; any other is quoted (backslashes untouched)."""
    if _NUMBER_LIKE.match(text):
        return text
    escaped = text.replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


LISTING_HEADER = (
    "Job id            Name             User              Time Use S Queue\n"
    "----------------  ---------------- ----------------  -------- - -----\n"
)


def listing(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    return LISTING_HEADER + "".join(_listing_line(record) for record in records)


def _listing_line(record: dict[str, Any]) -> str:
    values = record["attrs"]
    used = values.get("resources_used", {}).get("cput", "0")
    user = values["Job_Owner"].partition("@")[0]
    return (
        f"{_cut(record['id'], 16):<16}  {_cut(values['Job_Name'], 16):<16} {_cut(user, 16):<16}  "
        f"{used:>8} {values['job_state']} {_cut(values['queue'], 16):<16}\n"
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "*"

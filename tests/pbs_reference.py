"""Reading the recorded OpenPBS 23.06 transcripts and public qstat samples in tests/data/pbs/.

A transcript starts with the command line (``$ qstat -fx 3.vm    # as pbsuser, ...``) and ends
with ``[exit code: N]``; everything between is what the terminal showed, stdout and stderr mixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "pbs"
TRANSCRIPTS = DATA / "openpbs-23.06"
PUBLIC = DATA / "public"

_EXIT_LINE = re.compile(r"^\[exit code: (-?\d+)\]$")


@dataclass(frozen=True)
class Transcript:
    command: str
    output: str
    exit_code: int


def transcript(prefix: str) -> Transcript:
    """The transcript whose file name starts with ``prefix`` (``12_`` for ``qstat -fx 3.vm``)."""
    (path,) = sorted(TRANSCRIPTS.glob(f"{prefix}*"))
    lines = path.read_text().split("\n")
    command = lines[0].removeprefix("$ ").split("    #")[0]
    while lines and not lines[-1]:
        lines.pop()
    match = _EXIT_LINE.match(lines[-1])
    assert match, path
    return Transcript(command, "\n".join(lines[1:-1]) + "\n", int(match.group(1)))


def public(name: str) -> str:
    return (PUBLIC / name).read_text()

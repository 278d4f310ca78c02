"""Which line of a refusing scheduler command's output qxub shows as the reason."""

from __future__ import annotations

import pytest

from qxub_core.schedulers.command import refusal_line

QSUB_USAGE = """qsub: invalid option -- '-'
usage: qsub [-a date_time] [-A account_string] [-c interval]
\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]
       qsub --version
"""
SBATCH_REFUSAL = """sbatch: error: Invalid --mem specification
sbatch: error: Batch job submission failed: Requested node configuration is not available
"""


@pytest.mark.parametrize(
    ("program", "output", "line"),
    [
        ("/opt/pbs/bin/qsub", QSUB_USAGE, "qsub: invalid option -- '-'"),
        ("sbatch", SBATCH_REFUSAL, SBATCH_REFUSAL.splitlines()[-1]),
        ("qsub", "Unknown queue\n\n", "Unknown queue"),
        ("qsub", "", ""),
    ],
)
def test_the_reason_is_the_commands_own_last_word(program: str, output: str, line: str) -> None:
    assert refusal_line(program, output) == line

"""qxub's refusals reworded with the names a workflow uses for each value."""

from __future__ import annotations

from snakemake_executor_plugin_qxub.wording import job_wording, run_wording

CONFLICT = "--scheduler-args '--mem=4G --queue x' sets the mem, which --mem also sets; give it once"


def test_options_inside_a_quoted_value_are_kept_as_typed() -> None:
    text = job_wording(CONFLICT, {"qxub_scheduler_args"}, run_scheduler_args=False)

    assert text == (
        "qxub_scheduler_args '--mem=4G --queue x' sets the mem, "
        "which mem_mb also sets; give it once"
    )


def test_a_value_the_rule_did_not_give_is_named_as_the_runs_option() -> None:
    message = "--scheduler-args '-q workq' sets the queue, which --queue also sets; give it once"

    from_rule = job_wording(message, {"qxub_scheduler_args"}, run_scheduler_args=False)
    from_run = job_wording(message, {"qxub_queue"}, run_scheduler_args=True)

    assert from_rule.endswith("which --qxub-queue also sets; give it once")
    assert from_rule.startswith("qxub_scheduler_args '-q workq'")
    assert from_run == (
        "--qxub-scheduler-args '-q workq' sets the queue, which qxub_queue also sets; give it once"
    )


def test_the_runs_values_are_named_by_their_options() -> None:
    message = "--scheduler-args '-N x' sets the name, which --name also sets; give it once"

    assert run_wording(message) == (
        "--qxub-scheduler-args '-N x' sets the name, which the executor (it names every job) "
        "also sets; give it once"
    )


def test_the_pbs_chunk_options_name_snakemake_resources() -> None:
    message = "--resources 'select=1:ncpus=2' sets the select, which --cpus/--mem/--gpus also sets"

    text = job_wording(message, {"qxub_resources"}, run_scheduler_args=False)

    assert text == (
        "qxub_resources 'select=1:ncpus=2' sets the select, which threads/mem_mb/gpus also sets"
    )

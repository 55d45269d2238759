"""Running the pipeline on a schedule.

``python -m orchestration.daily`` is the one job a scheduler calls (cron, ``make daily``, or the
Airflow DAG in ``orchestration/airflow/``): take the job lock, stage what is new (or a date
range), check the events' freshness, ``dbt build``, record the run in ``staging.job_runs``, and
exit with the loader's codes (0 ok, 1 data, 2 configuration, 3 transient).
"""

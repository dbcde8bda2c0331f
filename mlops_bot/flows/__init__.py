"""The orchestration behind each command: event -> plan -> act through backends -> result.

One module per flow (push, promote, retrain, comment, deploy_job, schedules_sync, run, init,
bootstrap, compile_folder), with the steps one of them shares named after it (promote_inputs,
push_checks, head_run) or after what they decide (gate, traffic, schedules, deployment_checks,
superseded). What a flow returns
lives in `results/<flow>.py`; report/ renders it and cli/ or github/action.py print or post it.
"""

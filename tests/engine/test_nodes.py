"""Past one machine: torchrun commands for several nodes (arguments or $NODE_RANK / $MASTER_ADDR / $MASTER_PORT),
srun tasks that run the runner in-process, and a slurm task's variables as torch's. No process is started."""
import json
import subprocess
from pathlib import Path

import pytest

from tspsis.cli import commands as cli
from tspsis.engine import distributed, launch, runner
from tspsis.engine.request import RunRequest

CONFIG = Path("configs/x.py").resolve()


@pytest.fixture
def unchecked(monkeypatch):
    """Requests of a config that is not there: nothing to check, an empty identity."""
    monkeypatch.setattr(RunRequest, "check", lambda self, checkpoint=None: None)
    monkeypatch.setattr(RunRequest, "identity", {})


@pytest.fixture
def no_node_env(monkeypatch):
    for name in ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def _torchrun_options(cmd: list[str]) -> dict[str, str]:
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and cmd[-2:] == ["--launcher", "pytorch"]
    return dict(arg[2:].split("=", 1) for arg in cmd[3:] if arg.startswith("--") and "=" in arg)


def test_nodes_come_from_the_arguments_or_the_environment(no_node_env, monkeypatch):
    assert launch.resolve_nodes() == launch.Nodes(1, 0, "127.0.0.1", None)  # one machine: a free port later
    assert launch.resolve_nodes(2, 1, "node0", 1234) == launch.Nodes(2, 1, "node0", 1234)
    with pytest.raises(ValueError, match="--node-rank, --master-addr"):
        launch.resolve_nodes(2, node_rank=1)
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "node0")
    assert launch.resolve_nodes(2) == launch.Nodes(2, 1, "node0", distributed.DEFAULT_MASTER_PORT)
    monkeypatch.setenv("MASTER_PORT", "4321")
    assert launch.resolve_nodes(2, node_rank=0) == launch.Nodes(2, 0, "node0", 4321)  # an argument wins
    assert launch.resolve_nodes(1).master_port is None  # the environment is for several machines only
    for bad in (dict(nodes=0), dict(nodes=2, node_rank=2)):
        with pytest.raises(ValueError):
            launch.resolve_nodes(**bad)


def test_several_nodes_run_torchrun_with_gpus_processes_on_each(tmp_path):
    request = tmp_path / "request.json"
    one = launch._command("train", request, tmp_path, 1, ["--resume"])
    assert one[1:] == ["-m", "tspsis.engine.runner", "train", str(request), "--work-dir", str(tmp_path), "--resume"]
    local = _torchrun_options(launch._command("train", request, tmp_path, 4, []))
    assert local["nnodes"] == "1" and local["nproc_per_node"] == "4" and int(local["master_port"]) > 0
    cpu = _torchrun_options(launch._command("train", request, tmp_path, 0, [], launch.Nodes(2, 1, "node0", 1234)))
    assert cpu == dict(nnodes="2", node_rank="1", nproc_per_node="1", master_addr="node0", master_port="1234")


def _fake_child(calls: list, metrics_file: str):
    """A ``launch._stream`` that records its command and log and writes a finished run's metrics."""
    def stream(cmd, work_dir, env, mode, name, log_name="launcher.log"):
        calls.append((cmd, log_name))
        (work_dir / metrics_file).write_text(json.dumps({"run": {"complete": True}}))
    return stream


def test_train_and_test_reach_the_nodes(tmp_path, monkeypatch, unchecked):
    calls = []
    monkeypatch.setattr(launch, "_stream", _fake_child(calls, "metrics.json"))
    launch.train(RunRequest(CONFIG), tmp_path / "a", gpus=2, nodes=2, node_rank=0, master_addr="node0",
                 master_port=1234)
    monkeypatch.setattr(launch, "_stream", _fake_child(calls, "test-t.metrics.json"))
    launch.test(RunRequest(CONFIG), "k.pth", tmp_path / "a", gpus=2, name="t", nodes=2, node_rank=1,
                master_addr="node0", master_port=1234)
    (train_cmd, train_log), (test_cmd, test_log) = calls
    assert _torchrun_options(train_cmd)["nproc_per_node"] == "2" and train_log == "launcher.log"
    assert _torchrun_options(test_cmd)["nproc_per_node"] == "1"  # a test: one process per node
    assert _torchrun_options(test_cmd)["node_rank"] == "1" and test_log == "launcher.node1.log"


def test_under_srun_each_task_runs_the_runner_in_process(tmp_path, monkeypatch, unchecked):
    argvs = []

    def main(argv):
        argvs.append(argv)
        (tmp_path / "metrics.json").write_text(json.dumps({"run": {"complete": True}}))
        return 0

    monkeypatch.setattr(runner, "main", main)
    monkeypatch.setattr(launch, "_stream", lambda *args, **kwargs: pytest.fail("srun started the processes"))
    run = launch.train(RunRequest(CONFIG, max_iters=3), tmp_path, launcher="slurm")
    assert run.metrics_path == tmp_path / "metrics.json"
    assert argvs == [["train", str(tmp_path / "request.json"), "--work-dir", str(tmp_path), "--resume",
                      "--launcher", "slurm"]]
    assert json.loads((tmp_path / "request.json").read_text())["max_iters"] == 3  # what the runner composes from
    with pytest.raises(ValueError, match="srun places the processes"):
        launch.train(RunRequest(CONFIG), tmp_path, launcher="slurm", nodes=2, force=True)
    with pytest.raises(ValueError, match="launcher must be one of"):
        launch.train(RunRequest(CONFIG), tmp_path, launcher="mpi", force=True)


def test_a_slurm_task_becomes_torch_rank_world_size_and_master(monkeypatch):
    task = dict(SLURM_PROCID="9", SLURM_NTASKS="16", SLURM_LOCALID="1", SLURM_NODELIST="gpu[3-4]")
    assert distributed.slurm_environment({**task, "MASTER_ADDR": "h", "MASTER_PORT": "7"}) == dict(
        RANK="9", WORLD_SIZE="16", LOCAL_RANK="1", MASTER_ADDR="h", MASTER_PORT="7")
    hosts = []

    def scontrol(cmd, **kwargs):
        hosts.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="gpu3\ngpu4\n")

    monkeypatch.setattr(distributed.subprocess, "run", scontrol)
    env = distributed.slurm_environment(task)  # mmengine's defaults: the first host of the job, port 29500
    assert env["MASTER_ADDR"] == "gpu3" and env["MASTER_PORT"] == "29500"
    assert hosts == [["scontrol", "show", "hostname", "gpu[3-4]"]]


def test_the_cli_passes_nodes_and_the_launcher():
    parser = cli.build_parser()
    for command in (["train", "c.py", "--work-dir", "w"], ["test", "c.py", "k.pth", "--work-dir", "w"]):
        args = parser.parse_args([*command, "--gpus", "8", "--nodes", "2", "--node-rank", "1", "--master-addr",
                                  "node0", "--master-port", "29501"])
        assert cli._placement(args) == dict(nodes=2, node_rank=1, master_addr="node0", master_port=29501,
                                            launcher="local")
        assert cli._placement(parser.parse_args([*command, "--launcher", "slurm"]))["launcher"] == "slurm"
    assert parser.parse_args(["run-notebooks", "--nodes", "2"]).nodes == 2

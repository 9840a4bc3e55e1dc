"""The Dask engine with real processes, no mocks: a `dask scheduler` and two `dask worker` processes on 127.0.0.1
run a small DSE and a two-config regression through the CLI; one worker is killed (SIGKILL) while it runs a
point, every point still completes, on the other worker, and the results equal an embedded-cluster run.
Also: Ctrl-C leaves only complete rows (and the rerun resumes from them), a crashing point is one error row,
an unreachable scheduler is one error line.

The DSE points use the cheap hooks of tests/cluster_hooks.py (a sleep and a hash chain instead of synthesis);
the regression runs the real `sim` on one small kernel per config.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pyflow.paths import REPO

pytestmark = pytest.mark.slow
PY = sys.executable
HOOKS = "tests.cluster_hooks:HOOKS"
#: Seconds a cheap DSE point takes on the workers started here.
POINT_S = "1.5"
SMALL = """
[model]
hidden_size = 64
num_attention_heads = 4
num_key_value_heads = 2
head_dim = 16
[context]
max_length = 16
[lanes]
rmsnorm = 4
gemv = 4
rope = 2
qk = 4
av = 4
kv_cache = 4
softmax = {softmax}
"""
REGRESS_OPTS = ["--kernel", "softmax_max", "--no-chain", "--no-csim", "--no-stalls", "--no-flat", "--pos", "0,5"]


def _env(**extra: str) -> dict[str, str]:
    path = [str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    return {**env, "PYTHONPATH": os.pathsep.join(path), **extra}


def _flow(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "pyflow", *args], cwd=REPO, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Workers first, then the scheduler (SIGTERM, SIGKILL after 5 s)."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Cluster:
    """A scheduler and two single-threaded workers without nannies (a killed worker stays dead)."""

    def __init__(self, tmp: Path) -> None:
        self.procs: list[subprocess.Popen] = []
        self.tmp = tmp
        sfile = tmp / "scheduler.json"
        env = _env(FLATFLOW_TEST_POINT_S=POINT_S)
        logs = tmp / "logs"
        logs.mkdir()
        self.procs.append(subprocess.Popen(
            [PY, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--dashboard-address", "127.0.0.1:0",
             "--scheduler-file", str(sfile)], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
            stderr=open(logs / "scheduler.log", "w")))  # noqa: SIM115
        deadline = time.monotonic() + 60
        while not sfile.is_file() or not sfile.read_text().strip().endswith("}"):
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            assert self.procs[0].poll() is None, (logs / "scheduler.log").read_text()
            time.sleep(0.2)
        self.address = json.loads(sfile.read_text())["address"]
        self.workers: dict[str, subprocess.Popen] = {}
        for name in ("w1", "w2"):
            self.workers[name] = p = subprocess.Popen(
                [PY, "-m", "dask", "worker", self.address, "--name", name, "--nworkers", "1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--memory-limit", "0", "--local-directory", str(tmp / name)],
                cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=open(logs / f"{name}.log", "w"))  # noqa: SIM115
            self.procs.append(p)
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
            info = c.scheduler_info()["workers"]
        self.address_of = {w["name"]: addr for addr, w in info.items()}
        self.name_of = {addr: name for name, addr in self.address_of.items()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    c = None
    try:
        c = Cluster(tmp)
        yield c
    finally:
        if c is not None:
            _stop(c.procs)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _strip(rows: list[dict], *drop: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _configs(tmp: Path) -> list[str]:
    paths = []
    for name, softmax in (("lanes4", 4), ("lanes2", 2)):
        (tmp / f"{name}.toml").write_text(SMALL.format(softmax=softmax))
        paths.append(str(tmp / f"{name}.toml"))
    return paths


@pytest.mark.rtl
def test_cluster_regress_and_dse_survive_a_killed_worker(cluster: Cluster, tmp_path: Path):
    # --- a two-config regression on the cluster, and the same on the embedded cluster
    cfgs = _configs(tmp_path)
    on = _flow("regress", *cfgs, *REGRESS_OPTS, "--scheduler", cluster.address, "--out", str(tmp_path / "reg-c"),
               "--summary", str(tmp_path / "reg-c.json"))
    assert on.returncode == 0, on.stdout[-2000:] + on.stderr[-2000:]
    emb = _flow("regress", *cfgs, *REGRESS_OPTS, "-j", "2", "--out", str(tmp_path / "reg-e"),
                "--summary", str(tmp_path / "reg-e.json"))
    assert emb.returncode == 0, emb.stdout[-2000:] + emb.stderr[-2000:]
    rc, re_ = (json.loads((tmp_path / f"reg-{x}.json").read_text())["configs"] for x in "ce")
    assert [r["config"] for r in rc] == ["lanes4", "lanes2"] and all(r["status"] == "pass" for r in rc)
    assert all(r["worker"] in cluster.name_of for r in rc), rc
    assert all(r["kernels"] == "2/2" and r["cycles_measured"] == r["cycles_predicted"] for r in rc)
    assert rc[0]["cycles_measured"] != rc[1]["cycles_measured"]  # 4 vs 2 lanes
    varying = ("worker", "task_seconds", "seconds", "report", "cached")
    assert _strip(rc, *varying) == _strip(re_, *varying)
    for r in rc:
        report = json.loads(Path(r["report"]).read_text())
        assert report["ok"] and Path(r["report"]).parent == tmp_path / "reg-c" / r["config"]
    assert "lanes4" in on.stdout and "pass" in on.stdout
    again = _flow("regress", *cfgs, *REGRESS_OPTS, "--out", str(tmp_path / "reg-c"), "--summary",
                  str(tmp_path / "reg-c.json"))  # every config cached: no cluster needed, same rows
    assert again.returncode == 0 and again.stdout.startswith("regress: 2 configs cached"), again.stdout
    assert _strip(json.loads((tmp_path / "reg-c.json").read_text())["configs"], "cached") == _strip(rc, "cached")

    # --- a DSE on the cluster; worker w1 is killed while it runs a point, once a row of its has come back
    out = tmp_path / "dse-c"
    lanes = "1,2,3,4,8,16,32,64"  # 3 is an invalid point (does not divide 64)
    cmd = [PY, "-m", "pyflow", "dse", "--hooks", HOOKS, "--kernel", "toy", "--lanes", lanes, "--sim-sample", "0"]
    proc = subprocess.Popen([*cmd, "--scheduler", cluster.address, "--out", str(out)], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, w1 = cluster.workers["w1"], cluster.address_of["w1"]
    try:
        deadline = time.monotonic() + 90
        while True:  # a row from w1 is in dse.csv (its result reached the client) and w1 runs another point
            done = {r["key"]: r for r in _csv(out / "dse.csv")} if (out / "dse.csv").is_file() else {}
            mine = [f.name.split("-", 1)[1] for f in (out / "started").glob(f"{victim.pid}-*")] \
                if (out / "started").is_dir() else []
            running = [k for k in mine if k not in done]
            if running and any(r["worker"] == w1 for r in done.values()):
                break
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_key = running[0]
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
    rows = _csv(out / "dse.csv")
    assert [int(r["lanes"]) for r in rows] == [1, 2, 3, 4, 8, 16, 32, 64]
    assert [r["status"] for r in rows] == ["ok", "ok", "invalid", "ok", "ok", "ok", "ok", "ok"]
    assert all(r["worker"] in cluster.name_of for r in rows)
    by_key = {r["key"]: r for r in rows}
    assert cluster.name_of[by_key[killed_key]["worker"]] == "w2"  # re-run elsewhere
    assert any(cluster.name_of[r["worker"]] == "w1" for r in rows)  # the row w1 completed stays
    assert len(list((out / "points").glob("*.json"))) == len(rows)

    # --- the same DSE on the embedded cluster: the same results
    emb = _flow(*cmd[3:], "-j", "2", "--out", str(tmp_path / "dse-e"), env=_env(FLATFLOW_TEST_POINT_S="0.2"))
    assert emb.returncode == 0, emb.stdout[-2000:] + emb.stderr[-2000:]
    embedded = _csv(tmp_path / "dse-e" / "dse.csv")
    assert _strip(rows, "worker", "seconds") == _strip(embedded, "worker", "seconds")
    assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in embedded)


def test_ctrl_c_leaves_complete_rows_and_the_rerun_resumes(tmp_path: Path):
    out = tmp_path / "dse"
    cmd = [PY, "-m", "pyflow", "dse", "--hooks", HOOKS, "--kernel", "toy", "--lanes", "1,2,4,8,16,32,64",
           "--format", "default", "--format", "act=12.8", "--sim-sample", "0", "-j", "2", "--out", str(out)]
    here = signal.getsignal(signal.SIGINT)  # an ignored SIGINT would be inherited by the run (reported on failure)
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(FLATFLOW_TEST_POINT_S="3.0"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # Ctrl-C's default disposition, as a terminal's foreground job has it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while not (out / "dse.csv").is_file() or len(_csv(out / "dse.csv")) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        started = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, f"SIGINT in the test process: {here}\n" + stdout[-2000:] + stderr[-2000:]
    assert stderr.strip().splitlines() == ["error: interrupted"]
    rows = _csv(out / "dse.csv")
    assert 2 <= len(rows) < 14
    for r in rows:  # complete rows only, each cached
        assert r["status"] == "ok" and r["fmax_mhz"] and r["worker"] and r["seconds"], r
        assert json.loads((out / "points" / f"{r['key']}.json").read_text())["fmax_mhz"] == float(r["fmax_mhz"])
    assert not [f for f in out.rglob("*") if f.name.endswith(".tmp") or f.name.startswith(".staging")]
    assert psutil.wait_procs(started, timeout=10)[1] == []  # nothing the run started outlives it
    again = _flow(*cmd[3:], env=_env(FLATFLOW_TEST_POINT_S="0.1"))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert again.stdout.count("(cached)") >= len(rows)
    final = {r["key"]: r for r in _csv(out / "dse.csv")}
    assert len(final) == 14 and all(final[r["key"]] == r for r in rows)


def test_a_crashing_point_is_one_error_row_and_is_not_cached(tmp_path: Path):
    from pyflow.cluster.client import open_client
    from pyflow.synth import dse
    from tests import cluster_hooks

    ctx = dse.DseContext(board="ecp5-85k", freq_mhz=150.0, xls_mhz=150.0, root=tmp_path)
    pts = dse.grid(["toy"], [4, 13], [()])
    os.environ["FLATFLOW_TEST_POINT_S"] = "0"
    try:
        with open_client(workers=1) as client:
            rows = dse.run_sweep(pts, ctx, cluster_hooks.HOOKS, client, retries=1)
    finally:
        del os.environ["FLATFLOW_TEST_POINT_S"]
    ok, bad = rows
    assert ok["status"] == "ok" and ok["worker"].startswith("tcp://")
    assert bad["status"] == "error" and bad["worker"] is None
    assert bad["error"] == "RuntimeError: simulated crash at lanes 13 second line of the message"
    assert sorted(f.stem for f in (tmp_path / "points").glob("*.json")) == [ok["key"]]


def test_cluster_errors_are_one_line():
    bad = _flow("dse", "--scheduler", "tcp://127.0.0.1:9", "--small", "--kernel", "qk", timeout=60)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: cluster: cannot reach the Dask scheduler at "
                                                           "tcp://127.0.0.1:9")
    assert len(bad.stderr.strip().splitlines()) == 1
    both = _flow("regress", str(REPO / "pyflow/project/configs/default.toml"), "--scheduler", "tcp://127.0.0.1:9",
                 "-j", "2", timeout=60)
    assert both.returncode == 1 and both.stderr.strip().splitlines() == [
        "error: cluster: --jobs sizes the embedded cluster; the workers of tcp://127.0.0.1:9 run the tasks (drop "
        "--jobs, or drop --scheduler / DASK_SCHEDULER_ADDRESS)"]
    env = _flow("regress", str(REPO / "pyflow/project/configs/default.toml"), timeout=60,
                env=_env(DASK_SCHEDULER_ADDRESS="tcp://127.0.0.1:9"))  # Dask's convention, honoured
    assert env.returncode == 1 and env.stderr.strip().splitlines()[-1].startswith(
        "error: cluster: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 5 s")
    missing = _flow("regress", "no/such.toml", timeout=60)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines() == [
        "error: regress: config no/such.toml not found"]

"""Manual check (not collected by pytest): SIGKILL a 1-process run at random moments (start-up,
decode, update, save, prune) and resume it with train.resume_from=auto until it finishes; print
the largest weight difference from an uninterrupted run and the steps metrics.jsonl holds.

    PYTHONPATH=$PWD .venv/bin/python tests/distributed/random_kill.py SEED   # from the repo root
"""
import os, random, signal, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, "tests/distributed")
from launch_helpers import train_args, final_weights, max_diff
from gpg_vl.data.synthetic import make_synthetic, tokenizer_corpus
from gpg_vl.models.tiny import build_tiny
root = Path(os.environ.get("RANDOM_KILL_DIR", "/tmp/rk"))
model = build_tiny(root / "m", family="qwen2_vl", corpus=tokenizer_corpus())
data = Path(make_synthetic(root / "d", seed=0, n_train=8, n_test=2)["train"])
extra = ("rollout.max_new_tokens=12", "train.save_every=1", "train.keep_last=2")
env = {**os.environ, "OMP_NUM_THREADS": "1"}
def cmd(out, *more): return [sys.executable, "-m", "gpg_vl.cli", "train", *train_args(model, data, out, 6, *extra, *more)]
subprocess.run(cmd(root / "full"), env=env, check=True, capture_output=True)
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
out = root / "killed"
kills = 0
for attempt in range(12):
    more = ("train.resume_from=auto",) if attempt else ()
    p = subprocess.Popen(cmd(out, *more), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    delay = rng.uniform(11, 17)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait(); kills += 1
        print(f"killed after {delay:.1f}s; checkpoints: {sorted(x.name for x in (out/'checkpoints').iterdir()) if (out/'checkpoints').exists() else []}", flush=True)
        continue
    err = p.stderr.read().decode()[-500:]
    print("exit", p.returncode, err.strip().splitlines()[-1:] if p.returncode else "", flush=True)
    if p.returncode == 0:
        break
print("kills", kills, "max diff", max_diff(final_weights(root / "full"), final_weights(out)))
import json
steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines()]
print("metrics steps", steps)

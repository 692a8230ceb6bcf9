"""``gpg-vl compare``: one config trained under several variants and seeds, side by side.

Every (variant, seed) pair is one ``gpg-vl train`` in its own subprocess, on the same data, step
budget and seeds; a variant is a name plus dotted config overrides. The results are one markdown
table (final evaluation per task: mean and spread over seeds, steps, wall time; one row per
failed run with its error) and one PNG of the training reward and the evaluation curves, with
bands over seeds. A run that fails is reported with its error and the other runs still finish.

``--preset demo`` is the ablation on the embedded demo (``configs/demo.yaml``, CPU): GPG, GPG
without alpha, GRPO and Dr.GRPO, seeds 0, 1 and 2, each seed with its own tiny model and data.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gpg_vl.errors import ConfigError



class CompareError(ConfigError):
    """A bad ``gpg-vl compare`` argument (variant spec, seeds, missing config)."""


@dataclass(frozen=True)
class Variant:
    """A named set of dotted config overrides (``algorithm.use_alpha=false``)."""

    name: str
    overrides: tuple[str, ...] = ()


# The ablation of the paper's Table 5 rows that the demo can run. Baselines replace the whole
# algorithm section so that no GPG-only option (adv_scale, beta_th, aggregation) leaks into them;
# alpha is GPG's (the paper's code applies it only with --adjust_gd, which its GRPO runs leave off).
DEFAULT_VARIANTS = (
    Variant("gpg"),
    Variant("gpg-no-alpha", ("algorithm.use_alpha=false",)),
    Variant("grpo", ("algorithm={name: grpo, use_alpha: false}",)),
    Variant("dr_grpo", ("algorithm={name: dr_grpo, use_alpha: false}",)),
)
# Extra evaluations for the curves, and no TensorBoard files, in the demo preset.
DEMO_OVERRIDES = ("train.eval_every=100", "train.tensorboard=false")


@dataclass
class RunResult:
    """One (variant, seed) run: its summary.json and metrics.jsonl, or its error."""

    variant: str
    seed: int
    wall_seconds: float
    error: str | None = None
    summary: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_variant(spec: str) -> Variant:
    """``NAME`` or ``NAME: OVERRIDE OVERRIDE ...`` (shell-quoted, so a YAML value may hold spaces)."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise CompareError(f"--variant {spec!r}: the name (before ':') must be a plain word")
    try:
        overrides = tuple(shlex.split(rest))
    except ValueError as exc:
        raise CompareError(f"--variant {spec!r}: {exc}") from None
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise CompareError(f"--variant {name}: override {bad[0]!r} must look like key.sub=value")
    return Variant(name, overrides)


def error_line(log: str, code: int) -> str:
    """The one line that says why a run failed: the CLI's error line, else the traceback's last."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("gpg-vl ") and ": error: " in ln:
            return ln.split(": error: ", 1)[1]
    return lines[-1] if lines else f"exit code {code}, no output"


def read_result(variant: str, seed: int, out: Path, wall: float, code: int, log: str) -> RunResult:
    if code != 0:
        return RunResult(variant, seed, wall, error=error_line(log, code))
    if not (out / "summary.json").is_file():
        return RunResult(variant, seed, wall, error=f"exit code 0 but no {out / 'summary.json'} was written")
    summary = json.loads((out / "summary.json").read_text())
    metrics = out / "metrics.jsonl"
    history = [json.loads(ln) for ln in metrics.read_text().splitlines()] if metrics.exists() else []
    return RunResult(variant, seed, wall, summary=summary, history=history)


def run_one(variant: Variant, seed: int, base: list[str], out: Path, threads: int) -> RunResult:
    """``gpg-vl train`` for one (variant, seed) in a subprocess; its output goes to ``out/log.txt``."""
    out.mkdir(parents=True, exist_ok=True)
    args = [*base, f"train.seed={seed}", f"train.output_dir={out}", *variant.overrides]
    cmd = [sys.executable, "-m", "gpg_vl.cli", "train", *args]
    # The child imports this same gpg_vl (a source checkout may shadow an installed copy).
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with open(out / "log.txt", "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - t0
    print(f"compare: {variant.name} seed {seed}: {'done' if code == 0 else 'FAILED'} in {wall:.0f} s", flush=True)
    (out / "compare_run.json").write_text(json.dumps({"exit_code": code, "wall_seconds": wall}))
    return read_result(variant.name, seed, out, wall, code, (out / "log.txt").read_text())


def collect_one(variant: Variant, seed: int, out: Path) -> RunResult:
    """A run already in ``out`` (``--collect``): its exit code and wall time as compare recorded
    them, else (a run started outside compare, or still going) its summary.json."""
    if (out / "compare_run.json").is_file():
        rec = json.loads((out / "compare_run.json").read_text())
        log = (out / "log.txt").read_text() if (out / "log.txt").is_file() else ""
        return read_result(variant.name, seed, out, rec["wall_seconds"], rec["exit_code"], log)
    if not (out / "summary.json").is_file():
        return RunResult(variant.name, seed, 0.0, error=f"no finished run in {out}")
    wall = json.loads((out / "summary.json").read_text()).get("wall_seconds", 0.0)
    return read_result(variant.name, seed, out, wall, 0, "")


def run_all(variants: list[Variant], seeds: list[int], base: dict[int, list[str]], out: Path, jobs: int = 1,
            threads: int = 1) -> list[RunResult]:
    """Every (variant, seed), ``jobs`` at a time; ``base[seed]`` holds the shared config arguments
    (``--config FILE`` and overrides). Results come back in (variant, seed) order."""
    work = [(v, s) for v in variants for s in seeds]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_one, v, s, base[s], out / v.name / f"seed-{s}", threads)
                   for v, s in work]
        return [f.result() for f in futures]


# --- aggregation over seeds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (n - 1; 0 for one value), min and max of one figure."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


def spread(values: list[float]) -> Spread | None:
    """Summary over seeds, ignoring missing values (None / NaN); None when nothing is left."""
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return Spread(mean, math.sqrt(var), min(vals), max(vals), len(vals))


def task_metrics(evaluation: dict | None) -> dict[str, float]:
    """An evaluation's headline figure per task: each reward component other than ``format``
    (``format`` itself when a task has nothing else), named ``task`` or ``task/component``."""
    out = {}
    for task, comps in ((evaluation or {}).get("by_task") or {}).items():
        scores = {k: v for k, v in comps.items() if k != "n"}
        picked = {k: v for k, v in scores.items() if k != "format"} or scores
        for comp, value in picked.items():
            out[task if len(picked) == 1 else f"{task}/{comp}"] = value
    return out


def eval_curve(summary: dict) -> list[tuple[int, dict[str, float]]]:
    """(step, task metrics) at 0 (before), at every ``train.eval_every``, and at the end."""
    points = [(0, task_metrics(summary.get("before")))]
    points += [(e["step"], task_metrics(e)) for e in summary.get("evals", [])]
    points.append((summary.get("steps", 0), task_metrics(summary.get("after"))))
    return [(s, m) for s, m in points if m]


def curves(results: list[RunResult]):
    """Each variant's reward and evaluation curves (finished seeds only), for the figure."""
    from gpg_vl.compare_plot import VariantCurves

    out = []
    for v in dict.fromkeys(r.variant for r in results):
        c = VariantCurves(v)
        for r in (r for r in results if r.variant == v and r.ok):
            c.rewards.append([float(h.get("reward", math.nan)) for h in r.history])
            points = eval_curve(r.summary)
            for task in {t for _, m in points for t in m}:
                c.evals.setdefault(task, []).append(([s for s, _ in points], [m.get(task, math.nan) for _, m in points]))
        out.append(c)
    return out


def fmt(s: Spread | None, digits: int = 2) -> str:
    if s is None:
        return "-"
    if s.n == 1:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f} ({s.lo:.{digits}f}-{s.hi:.{digits}f})"


def markdown(results: list[RunResult], title: str = "gpg-vl compare") -> str:
    """The summary table (per variant over its seeds), the per-run table, and failed runs."""
    ok = [r for r in results if r.ok]
    tasks = sorted({t for r in ok for t in task_metrics(r.summary.get("after"))})
    variants = list(dict.fromkeys(r.variant for r in results))
    lines = [f"# {title}", "", "Final evaluation per task: mean ± sample std over seeds (min-max); "
             "steps and wall time per run.", "",
             "| variant | seeds ok | " + " | ".join(tasks) + " | steps | wall s |",
             "| --- | --- | " + " | ".join("---" for _ in tasks) + " | --- | --- |"]
    for v in variants:
        mine = [r for r in results if r.variant == v]
        good = [r for r in mine if r.ok]
        cells = [fmt(spread([task_metrics(r.summary.get("after")).get(t) for r in good])) for t in tasks]
        steps = fmt(spread([r.summary.get("steps") for r in good]), 0)
        wall = fmt(spread([r.wall_seconds for r in good]), 0)
        lines.append(f"| {v} | {len(good)}/{len(mine)} | " + " | ".join(cells) + f" | {steps} | {wall} |")
    lines += ["", "Per run, before -> after:", "", "| variant | seed | " + " | ".join(tasks) + " | wall s |",
              "| --- | --- | " + " | ".join("---" for _ in tasks) + " | --- |"]
    for r in results:
        if r.ok:
            b, a = task_metrics(r.summary.get("before")), task_metrics(r.summary.get("after"))
            cells = [f"{b[t]:.2f} -> {a[t]:.2f}" if t in a and t in b else "-" for t in tasks]
        else:
            cells = ["failed"] * len(tasks)
        lines.append(f"| {r.variant} | {r.seed} | " + " | ".join(cells) + f" | {r.wall_seconds:.0f} |")
    failed = [r for r in results if not r.ok]
    if failed:
        lines += ["", "Failed runs:", ""] + [f"- {r.variant} seed {r.seed}: failed: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


# --- the command --------------------------------------------------------------------------------


def add_arguments(p) -> None:
    from gpg_vl.cli import positive_int  # the CLI's own check, shared by gpg-vl demo --threads

    p.add_argument("--preset", choices=["demo"], help="demo: the embedded tasks on CPU (configs/demo.yaml), "
                   "the default variants, seeds 0 1 2")
    p.add_argument("--config", help="YAML config shared by every variant (not with --preset demo)")
    p.add_argument("--variant", action="append", default=[], metavar="'NAME[: OVERRIDE ...]'",
                   help="a variant: a name and dotted overrides, shell-quoted (repeat the flag); default: "
                   + ", ".join(v.name for v in DEFAULT_VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="train.seed values (default 0 1 2)")
    p.add_argument("--out", default="runs/compare", help="folder for the runs, compare.md and compare.png")
    p.add_argument("--jobs", type=positive_int, default=1, help="runs at a time (each in its own process)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per run")
    p.add_argument("--collect", action="store_true", help="train nothing: tabulate and plot the runs already "
                   "in --out (e.g. after stopping a compare)")
    p.add_argument("overrides", nargs="*", help="dotted overrides for every variant, e.g. train.steps=50")


def run(args) -> int:
    from gpg_vl.compare_plot import write_plot

    variants = [parse_variant(s) for s in args.variant] or list(DEFAULT_VARIANTS)
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise CompareError(f"--variant: names must differ, got {names}")
    seeds = args.seeds if args.seeds is not None else [0, 1, 2]
    out = Path(args.out)
    if args.collect:
        results = [collect_one(v, s, out / v.name / f"seed-{s}") for v in variants for s in seeds]
    else:
        base = shared_arguments(args, seeds, out)
        results = run_all(variants, seeds, base, out, jobs=args.jobs, threads=args.threads)
    table = markdown(results, title=f"gpg-vl compare ({args.preset or args.config})")
    (out / "compare.md").write_text(table)
    (out / "compare.json").write_text(json.dumps([r.__dict__ | {"history": None} for r in results], indent=2))
    write_plot(curves(results), out / "compare.png")
    print(table)
    print(f"compare: {out / 'compare.md'} and {out / 'compare.png'}")
    return 0 if all(r.ok for r in results) else 1


def shared_arguments(args, seeds: list[int], out: Path) -> dict[int, list[str]]:
    """seed -> the train arguments every variant shares: the config file and the overrides (the
    demo preset first builds each seed's tiny model and data under ``out/assets``)."""
    if args.preset == "demo":
        if args.config:
            raise CompareError("--config and --preset demo: the preset sets the config (configs/demo.yaml)")
        from gpg_vl.demo import DEFAULT_CONFIG, prepare_assets

        return {s: ["--config", str(DEFAULT_CONFIG), *prepare_assets(out / "assets" / f"seed-{s}", s),
                    *DEMO_OVERRIDES, *args.overrides] for s in seeds}
    if not args.config:
        raise CompareError("give --config FILE (shared by every variant) or --preset demo")
    if not Path(args.config).is_file():
        raise CompareError(f"--config: no such file: {args.config}")
    return {s: ["--config", args.config, *args.overrides] for s in seeds}


__all__ = ["CompareError", "DEFAULT_VARIANTS", "RunResult", "Spread", "Variant", "add_arguments", "eval_curve",
           "markdown", "parse_variant", "run", "run_all", "spread", "task_metrics"]

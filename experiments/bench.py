"""`terrasim bench`: every speed benchmark in one run, one side-by-side table."""

from pathlib import Path

from omegaconf import DictConfig

from engine.bench.report import bench_markdown, bench_table
from engine.bench.runner import bench_settings_from_config, run_bench
from engine.cli import experiment
from engine.io import write_text_atomic
from engine.runs import Results, Run


@experiment("bench")
def main(cfg: DictConfig, run: Run) -> Results:
    """Run the chosen cases; write bench.arrow and bench.md to bench.out and the run folder."""
    settings, cases = bench_settings_from_config(cfg)
    rows, environment = run_bench(settings, cases)
    table = bench_table(rows, environment)
    markdown = bench_markdown(rows, environment)
    out = Path(cfg.bench.out)
    for folder in (out, run.dir):
        Run(folder, cfg).write_table("bench", table)
        write_text_atomic(folder / "bench.md", markdown)
    run.save_config()
    print(markdown, end="")
    print(f"wrote bench.arrow and bench.md to {out} (a copy in {run.dir})")
    met = [r.met for r in rows]
    return {
        "cases": len(rows),
        "met": met.count(True),
        "missed": met.count(False),
        "wall_seconds": environment["wall_seconds"],
    }


if __name__ == "__main__":
    main()

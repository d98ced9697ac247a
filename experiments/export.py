"""`terrasim export`: write any design of a designs or frontier file as a CRM import file."""

from collections import Counter
from pathlib import Path

from omegaconf import DictConfig

from engine.cli import experiment
from engine.data import load_problem
from engine.designs import CHANGES, assignment_table, design_from_table, recommended_label
from engine.io import read_arrow
from engine.runs import Results, Run


@experiment("export")
def main(cfg: DictConfig, run: Run) -> Results:
    """Write assignment.csv (account_id, rep_id, previous_rep, change) for one design.

    Without `design=` the design the run recommended (column `recommended`) is written.
    """
    problem = load_problem(cfg)
    table = read_arrow(cfg.designs)
    source = str(cfg.designs)
    which = recommended_label(table, source) if cfg.design is None else str(cfg.design)
    label, assignment = design_from_table(table, source, which, problem)
    out = Path(cfg.out).absolute() if cfg.out else run.dir / "assignment.csv"
    rows = assignment_table(problem, assignment)
    run.write_csv(out, rows)
    run.save_config()
    counts = Counter(rows.column("change").to_pylist())
    changes = ", ".join(f"{counts[c]:,} {c.replace('_', ' ')}" for c in CHANGES)
    print(f"wrote design '{label}' ({changes}) to {out}")
    return {"design": label, **{f"accounts_{c}": counts[c] for c in CHANGES}}


if __name__ == "__main__":
    main()

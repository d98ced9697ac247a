"""`terrasim export`: write any design of a designs or frontier file as a CRM import file."""

from pathlib import Path

from omegaconf import DictConfig

from engine.cli import experiment
from engine.data import load_problem
from engine.designs import assignment_table, design_from_table
from engine.io import read_arrow, write_atomic
from engine.runs import Results, Run


@experiment("export")
def main(cfg: DictConfig, run: Run) -> Results:
    """Write assignment.csv (account_id, rep_id, moved) for one design."""
    import pyarrow.csv as pacsv

    problem = load_problem(cfg)
    table = read_arrow(cfg.designs)
    label, assignment = design_from_table(table, str(cfg.designs), str(cfg.design), problem)
    out = Path(cfg.out) if cfg.out else run.dir / "assignment.csv"
    rows = assignment_table(problem, assignment)
    write_atomic(out, lambda tmp: pacsv.write_csv(rows, tmp))
    run.save_config()
    moved = int(rows.column("moved").to_numpy(zero_copy_only=False).sum())
    print(f"wrote design '{label}' ({moved:,} accounts moved) to {out}")
    return {"design": label, "accounts_moved": moved}


if __name__ == "__main__":
    main()

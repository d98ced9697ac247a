"""`terrasim generate`: write a seeded synthetic instance that `terrasim validate` accepts."""

from pathlib import Path

from omegaconf import DictConfig

from engine.cli import experiment
from engine.errors import TerrasimError
from engine.runs import Run

FORMATS = ("parquet", "csv", "arrow")


@experiment("generate")
def main(cfg: DictConfig, run: Run) -> None:
    """Generate the preset of `data` and write accounts and reps files into `out`."""
    from engine.generator import PRESETS, generate_instance, write_instance

    data = cfg.data
    if data.kind != "synthetic":
        raise TerrasimError("generate needs data=synthetic (data.preset=NAME)")
    if data.preset not in PRESETS:
        raise TerrasimError(
            f"data.preset: unknown preset '{data.preset}'; one of {sorted(PRESETS)}"
        )
    if cfg.format not in FORMATS:
        raise TerrasimError(f"format must be one of {FORMATS}, got '{cfg.format}'")
    accounts, reps = generate_instance(
        data.preset, seed=cfg.seed, n_accounts=data.n_accounts, n_reps=data.n_reps
    )
    paths = write_instance(accounts, reps, Path(cfg.out), cfg.format)
    run.save_config()
    print(f"wrote {accounts.num_rows:,} accounts to {paths[0]}")
    print(f"wrote {reps.num_rows:,} reps to {paths[1]}")


if __name__ == "__main__":
    main()

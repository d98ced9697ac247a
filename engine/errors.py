"""The one exception type for problems a user can cause, the one warning type, the exit codes.

The CLI prints an error's message and exits with code 2; nothing else is caught. A warning
(an input that runs but probably not as meant) is printed as one line on stderr.
"""

USER_ERROR = 2  # bad input, an infeasible problem, a bad setting: a TerrasimError
INTERRUPTED_EXIT = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


class TerrasimError(Exception):
    """A user-facing error: bad input, an infeasible problem, a bad setting."""


class InputError(TerrasimError):
    """Input data that breaks the schema of DESIGN §2.

    Parameters
    ----------
    source : str
        The file (or table) the problem is in.
    column : str or None
        The column at fault, if one is.
    problem : str
        What is wrong, in words.
    rows : sequence of int, optional
        Offending row numbers (1-based data rows, header excluded); at most 10 are shown.
    """

    def __init__(self, source: str, column: str | None, problem: str, rows=()) -> None:
        rows = list(rows)
        where = f"{source}" + (f", column '{column}'" if column else "")
        msg = f"{where}: {problem}"
        if rows:
            shown = ", ".join(str(r) for r in rows[:10])
            more = f" (and {len(rows) - 10} more)" if len(rows) > 10 else ""
            msg += f" — rows {shown}{more}"
        super().__init__(msg)
        self.source, self.column, self.rows = source, column, rows


class InfeasibleError(TerrasimError):
    """No assignment can meet the hard rules; names the rule and the accounts."""

    def __init__(self, rule: str, problem: str, account_ids=()) -> None:
        ids = list(account_ids)
        msg = f"infeasible under rule '{rule}': {problem}"
        if ids:
            shown = ", ".join(str(a) for a in ids[:10])
            more = f" (and {len(ids) - 10} more)" if len(ids) > 10 else ""
            msg += f" — accounts {shown}{more}"
        super().__init__(msg)
        self.rule, self.account_ids = rule, ids


class InputWarning(UserWarning):
    """Input that is valid but probably not what was meant (a skill no account has).

    Raised with `warnings.warn`; the CLI prints it as one `terrasim NAME: warning: ...` line.
    """

"""The walkthrough runs and its numbers say what the table claims."""

import parity_kernels.walkthrough as walkthrough
from parity_kernels.__main__ import main


def test_walkthrough_rows():
    rows = walkthrough.run(groups=8)
    by_code = {row["code"]: row for row in rows}
    for name in ("SumCode(k=4)", "LinearCode(k=4, r=2, cauchy)", "LinearCode(k=4, r=2, vandermonde)"):
        assert by_code[name]["linear F"] < 1e-4
        assert by_code[name]["recovered"] == 1.0
    assert by_code["ConcatCode(k=4)"]["linear F"] > 0.1  # needs a learned parity model


def test_cli_walkthrough(capsys):
    assert main(["walkthrough", "--groups", "4"]) == 0
    assert "BerrutCode(k=4, n=6)" in capsys.readouterr().out

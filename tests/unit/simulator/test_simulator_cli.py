"""terminal-sim's command line: bad input is refused before anything starts."""

import pytest

from simulator.cli import build_parser, main


def test_a_bad_scenario_is_refused_with_status_2(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[[faults]]\nkind = "meteor"\n')
    assert main(["fleet", "--scenario", str(path)]) == 2
    assert "unknown fault" in capsys.readouterr().err


def test_a_missing_scenario_file_is_refused(tmp_path, capsys):
    assert main(["fleet", "--scenario", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err


def test_counts_are_checked(capsys):
    assert main(["fleet", "--count", "0"]) == 2
    assert main(["fleet", "--count", "2", "--micropython", "3"]) == 2


def test_run_with_a_server_needs_its_broker_and_partner(capsys):
    assert main(["run", "--server", "http://127.0.0.1:9"]) == 2
    assert "--partner" in capsys.readouterr().err


def test_run_refuses_a_folder_without_a_terminal(tmp_path, capsys):
    assert main(["run", "--flash", str(tmp_path)]) == 2
    assert "device.json" in capsys.readouterr().err


def test_the_commands_and_their_options():
    args = build_parser().parse_args(["fleet", "--count", "5", "--sales", "2", "--report",
                                      "json", "--every-fault", "--own-broker", "mosquitto"])
    assert (args.count, args.sales, args.report, args.every_fault) == (5, 2, "json", True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fleet", "--report", "xml"])

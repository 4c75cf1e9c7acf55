"""The CLI's bad input: one line on stderr and a non-zero exit, never a traceback."""

import pytest

from chronova.cli import main


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CHRONOVA_API_PORT", "abc", "CHRONOVA_API_PORT: expected a number, got 'abc'"),
        ("CHRONOVA_DATABASE_URL", "mysql://db/chronova", "unsupported scheme 'mysql'"),
    ],
)
def test_bad_settings_give_one_line_and_exit_2(monkeypatch, capsys, variable, value, says):
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("CHRONOVA_KAFKA", "127.0.0.1:1")
    assert main(["relay"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_a_distributed_component_without_kafka_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("CHRONOVA_KAFKA", raising=False)
    assert main(["scheduler"]) == 2
    assert "'chronova scheduler' needs Kafka" in capsys.readouterr().err


def test_unknown_component_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reboot-everything"])
    assert exit_.value.code == 2
    assert "invalid choice: 'reboot-everything'" in capsys.readouterr().err

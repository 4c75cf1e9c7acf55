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


def test_host_key_prints_each_hosts_own_key_and_needs_the_secret(monkeypatch, capsys):
    from chronova.host_keys import derive_host_key

    monkeypatch.delenv("CHRONOVA_SECRET", raising=False)
    assert main(["host-key", "--host", "c1"]) == 2
    assert "CHRONOVA_SECRET is required" in capsys.readouterr().err
    monkeypatch.setenv("CHRONOVA_SECRET", "s3cret")
    assert main(["host-key", "--host", "c1", "--host", "c2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"c{n} {derive_host_key(b's3cret', f'c{n}').hex()}" for n in (1, 2)]


def test_one_hosts_key_cannot_serve_two_hosts(monkeypatch, capsys):
    monkeypatch.setenv("CHRONOVA_KAFKA", "127.0.0.1:1")
    monkeypatch.setenv("CHRONOVA_HOST_KEY", "ab" * 32)
    assert main(["agent", "--host", "c1", "--host", "c2"]) == 2
    assert "serve exactly one host" in capsys.readouterr().err

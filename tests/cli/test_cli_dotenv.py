"""dotenv parsing/writing and the env-var <-> secret-name mapping (no vault)."""

from __future__ import annotations

import subprocess

import pytest

from vaultcore.cli._dotenv import (
    DotenvError,
    env_to_secret_name,
    format_dotenv,
    parse_dotenv,
    quote,
    secret_to_env_name,
)

TRICKY = {
    "PLAIN": "abc123",
    "EMPTY": "",
    "SPACES": "  two  words  ",
    "DOUBLE": 'say "hi"',
    "SINGLE": "it's",
    "BOTH": 'it\'s "quoted"',
    "BACKSLASH": "C:\\path\\to\\n",
    "NEWLINES": "line1\nline2\r\nline3\n",
    "DOLLAR": "$HOME ${USER} $(id) `id`",
    "HASH": "a #not a comment",
    "HASHSTART": "#start",
    "TAB": "a\tb",
    "UNICODE": "pässwörd ✓",
    "EQUALS": "a=b=c",
    "TRAILING_BACKSLASH": "ends with \\",
}


def test_round_trip_of_tricky_values() -> None:
    assert parse_dotenv(format_dotenv(TRICKY)) == TRICKY


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ("abc", "abc"),
        ("", "''"),
        ("a b", "'a b'"),
        ("$HOME", "'$HOME'"),
        ("it's", '"it\'s"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
        ('say "x"', "'say \"x\"'"),
    ],
)
def test_quote_picks_the_simplest_form(value: str, spelled: str) -> None:
    assert quote(value) == spelled


def test_single_quoted_and_unquoted_forms_read_the_same_in_a_posix_shell() -> None:
    values = {k: v for k, v in TRICKY.items() if "'" not in quote(v)[1:-1] and not quote(v).startswith('"')}
    script = format_dotenv(values) + "".join(f'printf "%s\\0" "${name}"\n' for name in values)
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == list(values.values())


def test_parser_accepts_common_dotenv_syntax() -> None:
    text = (
        "# a comment\n"
        "\n"
        "export A=1\n"
        "B = two words   # trailing comment\n"
        "C='single # not comment' # comment\n"
        'D="multi\nline"\n'
        "E=\n"
        'F="esc \\$ \\" \\\\ \\t \\x"\n'
        "G='no \\escapes'\r\n"
        "A=last wins\n"
    )
    assert parse_dotenv(text) == {
        "A": "last wins",
        "B": "two words",
        "C": "single # not comment",
        "D": "multi\nline",
        "E": "",
        "F": 'esc $ " \\ \t \\x',
        "G": "no \\escapes",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("JUSTANAME\n", "line 1: expected NAME=value"),
        ("A=1\n1BAD=2\n", "line 2: '1BAD' is not a valid variable name"),
        ("A=1\nB='open\n", "line 2: unterminated ' quote"),
        ('A="x" trailing\n', "line 1: unexpected text after the closing quote"),
        ("A-B=1\n", "line 1: 'A-B' is not a valid variable name"),
    ],
)
def test_parser_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DotenvError, match=message):
        parse_dotenv(text)


def test_name_mapping() -> None:
    assert env_to_secret_name("DB_PASSWORD") == "DB-PASSWORD"
    assert env_to_secret_name("DB_PASSWORD", "app-") == "app-DB-PASSWORD"
    assert secret_to_env_name("db-password") == "DB_PASSWORD"
    assert secret_to_env_name("App-db-url", "app-") == "DB_URL"
    assert secret_to_env_name("other-db-url", "app-") is None
    assert secret_to_env_name("app-", "app-") is None

"""What an admin does about guessing (issue 12 item 5): `saltapi unlock` forgets the counted failures, and
`--trusted-proxies` makes the counts per client behind a reverse proxy instead of one for everyone."""

import pytest
import requests

from conftest import TOKENS, WebActions, bearer, running_server
from saltapi.auth import TOKEN_FREE_FAILURES, TOKEN_LIMITER_KEY
from saltapi.proxies import TrustedProxies, parse_networks
from saltapi.store.login_limits import FREE_FAILURES, LoginLimiter

TIMEOUT = 10


class FrozenClock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def frozen(app) -> FrozenClock:
    """Sign-in waits that never pass by themselves."""
    clock = FrozenClock()
    app.extensions["saltapi"].login_limiter.clock = clock
    app.extensions[TOKEN_LIMITER_KEY] = LoginLimiter(free_failures=TOKEN_FREE_FAILURES, clock=clock)
    return clock


def attempt(app, address: str, who: str = "admin", password: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return WebActions(client).login(who, password)


def fail(app, address: str, who: str = "admin", times: int = FREE_FAILURES) -> None:
    for _ in range(times):
        assert attempt(app, address, who, "wrong guess").status_code == 200


# --- saltapi unlock -------------------------------------------------------------------------------------------


def failures(db) -> int:
    return db.execute("SELECT count(*) FROM _sc_login_failures").fetchone()[0]


def test_unlock_everything(app, runner, frozen, loaded_db):
    fail(app, "10.0.0.1")
    assert attempt(app, "10.0.0.1").status_code == 429
    result = runner.invoke(args=["unlock"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Forgot {2 * FREE_FAILURES} failed attempts.\n"  # the account's and the address's
    assert attempt(app, "10.0.0.1").status_code == 302
    assert failures(loaded_db) == 0


def test_unlock_an_address(app, client, runner, frozen, loaded_db):
    fail(app, "10.0.0.1")
    for number in range(TOKEN_FREE_FAILURES):
        client.get("/api/books", headers=bearer(f"guess-{number}"), environ_overrides={"REMOTE_ADDR": "10.0.0.1"})
    fail(app, "10.0.0.2", times=3)
    result = runner.invoke(args=["unlock", "--address", "10.0.0.1"])
    assert result.stdout == f"Forgot {2 * FREE_FAILURES + TOKEN_FREE_FAILURES} failed attempts from 10.0.0.1.\n"
    assert attempt(app, "10.0.0.1").status_code == 302
    assert failures(loaded_db) == 6  # 10.0.0.2's stay


def test_unlock_an_account(app, runner, frozen, loaded_db):
    fail(app, "10.0.0.1", times=3)
    fail(app, "10.0.0.2", times=3)
    fail(app, "10.0.0.1", "staff", times=2)
    assert runner.invoke(args=["unlock", "admin@foo.com"]).stdout == "Forgot 6 failed attempts of admin@foo.com.\n"
    assert failures(loaded_db) == 10  # the addresses' counts and staff's stay


def test_unlock_one_account_at_one_address(app, runner, frozen, loaded_db):
    fail(app, "10.0.0.1", times=3)
    fail(app, "10.0.0.2", times=1)
    result = runner.invoke(args=["unlock", " ADMIN@foo.com", "--address", "10.0.0.2"])
    assert result.stdout == "Forgot 1 failed attempt of ADMIN@foo.com from 10.0.0.2.\n"
    assert failures(loaded_db) == 7


# --- trusted proxies ------------------------------------------------------------------------------------------


def client_address(setting: str, remote: str, forwarded: str | None = None, proto: str | None = None) -> tuple:
    """(REMOTE_ADDR, scheme) the app sees behind the middleware."""
    seen = {}

    def app(environ, start_response):
        seen.update(address=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"])
        return []

    environ = {"REMOTE_ADDR": remote, "wsgi.url_scheme": "http"}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    if proto is not None:
        environ["HTTP_X_FORWARDED_PROTO"] = proto
    TrustedProxies(app, parse_networks(setting))(environ, None)
    return seen["address"], seen["scheme"]


@pytest.mark.parametrize(
    "setting, remote, forwarded, proto, seen",
    [
        ("127.0.0.1", "127.0.0.1", "203.0.113.5", "https", ("203.0.113.5", "https")),
        ("127.0.0.1", "127.0.0.1", "1.1.1.1, 203.0.113.5", None, ("203.0.113.5", "http")),  # the client's own lie
        ("127.0.0.1", "198.51.100.7", "203.0.113.5", "https", ("198.51.100.7", "http")),  # not from our proxy
        ("10.0.0.0/8, ::1", "10.1.2.3", "203.0.113.5, 10.9.9.9", None, ("203.0.113.5", "http")),  # two proxies
        ("::1", "::1", "2001:db8::5", None, ("2001:db8::5", "http")),
        ("127.0.0.1", "127.0.0.1", "not-an-address", None, ("127.0.0.1", "http")),
        ("127.0.0.1", "127.0.0.1", None, "ftp", ("127.0.0.1", "http")),
        ("", "127.0.0.1", "203.0.113.5", "https", ("127.0.0.1", "http")),  # nobody trusted: the default
    ],
)
def test_forwarded_headers_count_only_from_trusted_proxies(setting, remote, forwarded, proto, seen):
    assert client_address(setting, remote, forwarded, proto) == seen


def test_a_wrong_setting_is_refused(db_path):
    from saltapi import create_app

    with pytest.raises(ValueError, match="SALTAPI_TRUSTED_PROXIES"):
        create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "t", "SALTAPI_TRUSTED_PROXIES": "nginx"})


def guess_tokens(url: str, forwarded_for: str, times: int) -> list[int]:
    headers = {"X-Forwarded-For": forwarded_for}
    return [
        requests.get(f"{url}/api/books", headers={**headers, **bearer(f"guess-{n}")}, timeout=TIMEOUT).status_code
        for n in range(times)
    ]


@pytest.mark.parametrize("trusted", [True, False])
def test_behind_a_trusted_proxy_each_client_has_its_own_count(db_path, tmp_path, trusted):
    """A real server, as nginx would call it from 127.0.0.1: trusted, one client's guesses slow only that client."""
    extra = ("--trusted-proxies", "127.0.0.1") if trusted else ()
    with running_server(db_path, tmp_path / "server.log", extra_args=extra) as server:
        assert guess_tokens(server.url, "203.0.113.5", TOKEN_FREE_FAILURES) == [401] * TOKEN_FREE_FAILURES
        assert guess_tokens(server.url, "203.0.113.5", 1) == [429]
        other_client = guess_tokens(server.url, "198.51.100.9", 1)
        correct = requests.get(
            f"{server.url}/api/books", headers={"X-Forwarded-For": "203.0.113.5", **bearer(TOKENS["admin"])}, timeout=TIMEOUT
        )
    assert other_client == ([401] if trusted else [429])  # untrusted, everyone is 127.0.0.1
    assert correct.status_code == 200  # a correct token is never refused

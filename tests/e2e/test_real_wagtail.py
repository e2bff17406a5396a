"""A site made by ``wagtail start`` (Wagtail 8.0, Django 6.1), deployed unchanged on Debian 13.

The starter's project keeps its settings in ``mysite/settings/{base,dev,production}.py``, hard-codes
SQLite, reads nothing from the environment and brings neither Gunicorn nor a PostgreSQL driver;
the only file of ours is ``tests/e2e/real_stacks/wagtail.yaml``. The tests run in file order and
build on each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e import realapps
from tests.e2e.realapps import Site, last_line
from tests.e2e.test_host_release import Load, release
from tools.testhost import TestHost

pytestmark = pytest.mark.e2e

SUITE = "trixie"
PORT = 2271
WAGTAIL = "wagtail==8.0.1"


@pytest.fixture(scope="module")
def host() -> Iterator[TestHost]:
    yield from realapps.boot(SUITE, PORT)


@pytest.fixture(scope="module")
def site(host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Site:
    into = tmp_path_factory.mktemp("wagtail")
    return realapps.deploy_site(
        host,
        SUITE,
        "wagtail",
        into,
        packages=[WAGTAIL],
        starter=["wagtail", "start", "mysite"],
        project="mysite",
        release_id="w1",
    )


def test_the_starters_project_is_live_as_it_was_generated(site: Site) -> None:
    assert realapps.live_release(site.ctx) == "w1"
    # What the release had to add, because the project does not bring it.
    assert "gunicorn is not in the app's requirements: installing gunicorn==" in site.first_release
    assert "no PostgreSQL driver in the app's requirements: installing psycopg[binary]==" in site.first_release
    assert "no redis client in the app's requirements: installing redis==" in site.first_release
    assert "Django>=6.1" in (site.source / "requirements.txt").read_text()
    production = "mysite/settings/production.py"
    on_host = site.host.ssh(f"sudo -n cat {site.ctx.releases_dir}/w1/{production}").stdout
    assert on_host == (site.source / production).read_text(), "the project's settings were changed"
    python = f"{site.ctx.releases_dir}/w1/.venv/bin/python"
    version = site.host.ssh(f"sudo -n {python} -c 'import django; print(django.VERSION[0])'")
    assert version.stdout.strip() == "6"


def test_the_home_page_comes_from_postgresql(site: Site) -> None:
    browser = realapps.browser_for(site.ctx)
    page = browser.get("/")
    assert page.status == 200, page.text[:500]
    assert "wagtail" in page.text.lower()
    code, out, err = realapps.run_manage(
        site.request, "shell", "-c", "from django.db import connection; print(connection.vendor)"
    )
    assert (code, last_line(out)) == (0, "postgresql"), err


def test_the_cache_is_the_stacks_redis(site: Site) -> None:
    realapps.cache_is_shared(site.request)
    ready = realapps.browser_for(site.ctx).get(site.ctx.health_path).json()
    assert ready["checks"] == {"database": "ok", "cache": "ok"}, ready


def test_admin_login_and_static_files(site: Site) -> None:
    realapps.create_superuser(site.request)
    browser = realapps.browser_for(site.ctx)
    assert realapps.log_in(browser, "/admin/login/") == "/admin/"
    dashboard = browser.get("/admin/")
    assert dashboard.status == 200 and "mysite" in dashboard.text, dashboard.text[:500]
    # ManifestStaticFilesStorage (the starter's production choice): hashed names, served by Nginx.
    css = realapps.check_static(browser, dashboard.text)
    assert css.count(".") >= 2, css


def test_a_document_uploaded_in_the_admin_is_served_from_media(site: Site) -> None:
    browser = realapps.browser_for(site.ctx)
    realapps.log_in(browser, "/admin/login/")
    content = f"uploaded through the wagtail admin at {time.time()}\n".encode()
    response = browser.post_file("/admin/documents/multiple/add/", "files[]", "e2e-report.txt", content)
    assert response.status == 200, response.text[:800]
    assert json.loads(response.body)["success"] is True, response.text[:800]
    found = site.host.ssh(f"sudo -n find {site.ctx.media_dir}/documents -name 'e2e-report*.txt'").stdout.split()
    assert len(found) == 1, found
    served = browser.get("/media/" + found[0].removeprefix(site.ctx.media_dir + "/"))
    assert served.status == 200 and served.body == content


def test_a_second_release_under_load_fails_no_request(site: Site) -> None:
    browser = realapps.browser_for(site.ctx)
    css = realapps.check_static(browser, browser.get("/admin/login/").text)
    with Load(browser, ["/", css, "/admin/login/"]) as load:
        result = release(site.host, site.ctx, "w2", site.source)
    total = sum(load.results.values())
    assert total > 50, f"the load generator made too few requests to mean anything: {load.results}"
    assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
    assert "dependencies unchanged: reusing the venv" in result.stdout, result.stdout
    assert realapps.live_release(site.ctx) == "w2"

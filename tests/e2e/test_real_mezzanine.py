"""A site made by ``mezzanine-project`` (Mezzanine 6.1, Django 4.2), deployed unchanged on Debian 12.

Mezzanine's layout is unlike ours and unlike Wagtail's: one ``settings.py`` that ``exec``s the
generated ``local_settings.py`` (DEBUG on, SQLite, a development key), then rewrites INSTALLED_APPS
and more in ``set_dynamic_settings``; a Grappelli admin; its own media library. The starter writes
no requirements file, so the one file added to what it generated is a ``requirements.txt`` naming
the Mezzanine that generated it; the rest of ours is ``tests/e2e/real_stacks/mezzanine.yaml``.
The tests run in file order and build on each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e import realapps
from tests.e2e.realapps import Site, last_line
from tests.e2e.test_host_release import Load, release
from tools.testhost import TestHost

pytestmark = pytest.mark.e2e

SUITE = "bookworm"
PORT = 2272
MEZZANINE = "Mezzanine==6.1.1"


@pytest.fixture(scope="module")
def host() -> Iterator[TestHost]:
    yield from realapps.boot(SUITE, PORT)


@pytest.fixture(scope="module")
def site(host: TestHost, tmp_path_factory: pytest.TempPathFactory) -> Site:
    into = tmp_path_factory.mktemp("mezzanine")
    return realapps.deploy_site(
        host,
        SUITE,
        "mezzanine",
        into,
        packages=[MEZZANINE],
        starter=["mezzanine-project", "mzsite"],
        project="mzsite",
        release_id="m1",
        added={"requirements.txt": MEZZANINE + "\n"},
    )


def test_the_starters_project_is_live_as_it_was_generated(site: Site) -> None:
    assert realapps.live_release(site.ctx) == "m1"
    assert "no PostgreSQL driver in the app's requirements: installing psycopg[binary]==" in site.first_release
    assert "no redis client in the app's requirements: installing redis==" in site.first_release
    for generated in ("mzsite/settings.py", "mzsite/local_settings.py", "manage.py"):
        on_host = site.host.ssh(f"sudo -n cat {site.ctx.releases_dir}/m1/{generated}").stdout
        assert on_host == (site.source / generated).read_text(), f"{generated} was changed"
    # The generated local settings say DEBUG = True; the adapter's settings win.
    code, out, err = realapps.run_manage(
        site.request,
        "shell",
        "-c",
        "from django.conf import settings; from django.db import connection; print(settings.DEBUG, connection.vendor)",
    )
    assert (code, last_line(out)) == (0, "False postgresql"), err


def test_the_cache_is_the_stacks_redis(site: Site) -> None:
    """Mezzanine's project sets no CACHES (its settings then drop its page-cache middleware, which
    stays dropped: the adapter's CACHES come after); its own cache calls reach the stack's Redis."""
    realapps.cache_is_shared(site.request)


def test_the_home_page_and_its_static_files(site: Site) -> None:
    browser = realapps.browser_for(site.ctx)
    page = browser.get("/")
    assert page.status == 200, page.text[:500]
    assert "mezzanine" in page.text.lower()
    realapps.check_static(browser, page.text)


def test_admin_login(site: Site) -> None:
    realapps.create_superuser(site.request)
    browser = realapps.browser_for(site.ctx)
    assert realapps.log_in(browser, "/admin/login/", {"next": "/admin/"}) == "/admin/"
    admin = browser.get("/admin/")
    assert admin.status == 200 and "Log out" in admin.text, admin.text[:500]
    realapps.check_static(browser, admin.text)


def test_a_file_saved_to_the_default_storage_is_served_from_media(site: Site) -> None:
    content = f"saved by mezzanine's storage at {time.time()}"
    code, out, err = realapps.run_manage(
        site.request,
        "shell",
        "-c",
        "from django.core.files.base import ContentFile; from django.core.files.storage import default_storage; "
        f"print(default_storage.save('uploads/e2e.txt', ContentFile({content!r}.encode())))",
    )
    assert code == 0, err
    name = out.strip().splitlines()[-1]
    assert site.host.ssh(f"sudo -n test -f {site.ctx.media_dir}/{name}", check=False).returncode == 0
    served = realapps.browser_for(site.ctx).get(f"/media/{name}")
    assert served.status == 200 and served.text == content


def test_a_second_release_under_load_fails_no_request(site: Site) -> None:
    browser = realapps.browser_for(site.ctx)
    css = realapps.check_static(browser, browser.get("/").text)
    with Load(browser, ["/", css, "/admin/login/"]) as load:
        result = release(site.host, site.ctx, "m2", site.source)
    total = sum(load.results.values())
    assert total > 50, f"the load generator made too few requests to mean anything: {load.results}"
    assert not load.errors, f"{len(load.errors)} failed of {total}: {load.errors[:10]}"
    assert "dependencies unchanged: reusing the venv" in result.stdout, result.stdout
    assert realapps.live_release(site.ctx) == "m2"

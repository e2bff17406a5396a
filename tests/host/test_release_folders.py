"""Static and media where the app puts them (app.staticRoot / app.mediaRoot), never in the
read-only release: the release script's staging step run for real on a temporary tree."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from djangostack.host import render
from djangostack.host.context import HostContext
from tests.host.conftest import dev_context


def _staging_functions(ctx: HostContext) -> str:
    """The release script up to its command dispatch: variables and functions, nothing run."""
    script = render.render_release_script(ctx)
    return script[: script.index("[[ $# -ge 1 ]] || usage")]


def _ctx(tmp_path: Path, **changes: object) -> HostContext:
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True, check=True).stdout.strip()
    return replace(dev_context(), user=user, web_group=group, media_dir=str(tmp_path / "shared-media"), **changes)  # type: ignore[arg-type]


def _stage(ctx: HostContext, tmp_path: Path) -> Path:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    Path(ctx.media_dir).mkdir(exist_ok=True)
    source = tmp_path / "source"
    (source / "media" / "fixtures").mkdir(parents=True)
    (source / "media" / "fixtures" / "logo.png").write_text("shipped")
    (source / "media" / "kept.txt").write_text("shipped")
    (source / "staticfiles").mkdir()
    (source / "staticfiles" / "stale.css").write_text("old build")
    (source / "app" / "static").mkdir(parents=True)
    (source / "app" / "static" / "app.css").write_text("body{}")
    (Path(ctx.media_dir) / "kept.txt").write_text("uploaded")
    release = tmp_path / "release"
    bash = _staging_functions(ctx) + f'stage_source "{release}" "{source}" r1 ""\n'
    result = subprocess.run(["bash", "-c", bash], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return release


def test_media_root_in_the_code_becomes_a_link_to_the_shared_media(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, media_subdir="media", static_subdir="staticfiles")
    release = _stage(ctx, tmp_path)
    media = release / "media"
    assert media.is_symlink() and media.resolve() == Path(ctx.media_dir).resolve()
    # Shipped files seed the shared media; an upload of the same name is never replaced.
    assert (Path(ctx.media_dir) / "fixtures" / "logo.png").read_text() == "shipped"
    assert (Path(ctx.media_dir) / "kept.txt").read_text() == "uploaded"
    # The static folder is the release's own build: not copied from the source.
    assert not (release / "staticfiles").exists()
    assert (release / "app" / "static" / "app.css").exists()


def test_without_media_root_the_source_media_folder_is_copied_as_code(tmp_path: Path) -> None:
    release = _stage(_ctx(tmp_path), tmp_path)
    assert (release / "media").is_dir() and not (release / "media").is_symlink()
    assert (release / "staticfiles" / "stale.css").exists()


def test_collectstatic_writes_into_the_configured_folder(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, static_subdir="staticfiles")
    script = render.render_release_script(ctx)
    assert 'install -d -o "$APP_USER" -g "$WEB_GROUP" -m 0755 "$1/staticfiles"' in script
    assert 'STATIC_ROOT="$1/staticfiles"' in script


@pytest.mark.parametrize("bad", ["../etc", "/abs", ".hidden", "a/../../b", "a b", "static;rm", ""])
def test_a_folder_outside_the_release_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must be a folder inside the release"):
        render.render_release_script(replace(dev_context(), static_subdir=bad))
    with pytest.raises(ValueError, match="must be a folder inside the release"):
        render.render_nginx_site(replace(dev_context(), media_subdir=bad))


def test_media_and_static_need_their_own_folders() -> None:
    with pytest.raises(ValueError, match="uploads need their own folder"):
        render.render_release_script(replace(dev_context(), media_subdir="static"))


def test_shellcheck_is_clean_with_both_folders_set(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    ctx = replace(dev_context(), media_subdir="assets/media", static_subdir="staticfiles")
    path = tmp_path / "release"
    path.write_text(render.render_release_script(ctx))
    result = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout

"""MkDocs hook: render the catalog from ``site_data/`` at build time.

Why a hook: the pages are made from the data on every ``mkdocs build``, so the site can never be
stale and no generated page is committed under ``docs/``. What it does, by MkDocs event:

* ``on_config``: load and validate ``site_data`` (``$BLOCKGEMM_SITE_DATA`` or the folder next to
  ``mkdocs.yml``), render every page and download, add the devices to the navigation and the
  page scripts (plotly.js from the Python plotly package: no CDN) to every page;
* ``on_files``: add the generated pages, downloads and plotly.min.js as virtual files;
* ``on_page_markdown``: splice the generated parts into hand-written pages (the device x model
  matrix and headline figures into the home page, the provider table into the methodology);
* ``on_page_content``: swap the HTML fragments back in for their placeholders;
* ``on_post_template``: make ``404.html`` work from file:// too (relative asset links).

Invalid data stops the build before any page is rendered: ``validate`` (the same checks as
``python -m generator validate``) lists every problem, one line each with file and field.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page as MkPage

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:  # mkdocs loads hooks by path; make the package importable
    sys.path.insert(0, str(_REPO))

import plotly  # noqa: E402

from generator.data.validate import validate_tree  # noqa: E402
from generator.errors import UserError  # noqa: E402
from generator.site.catalog import load_catalog  # noqa: E402
from generator.site.render import HOME_MARKER, SiteOutput, render_site  # noqa: E402

log = logging.getLogger("mkdocs.plugins.blockgemm")

PLOTLY_SRC = "assets/javascripts/plotly.min.js"
PAGE_JS = "assets/javascripts/catalog.js"
PAGE_CSS = "assets/stylesheets/catalog.css"
ENV_VAR = "BLOCKGEMM_SITE_DATA"

_output: SiteOutput | None = None
_fragments: dict[str, dict[str, str]] = {}


def site_data_path(config: MkDocsConfig) -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(config.config_file_path).resolve().parent / "site_data"


@event_priority(-50)  # after Material's offline plugin has fixed use_directory_urls
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _output
    start = time.perf_counter()
    site_data = site_data_path(config)
    problems = validate_tree(site_data).problems
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise PluginError(
            f"blockgemm: invalid site_data ({len(problems)} problem(s); "
            f"python -m generator validate --site-data {site_data}):\n{listed}"
        )
    try:
        catalog = load_catalog(site_data)
        _output = render_site(catalog, use_directory_urls=config.use_directory_urls)
    except UserError as exc:  # SiteDataError included: names the file and the field
        raise PluginError(f"blockgemm: invalid site_data: {exc}") from None
    _fragments.clear()
    for page in _output.pages:
        _fragments[page.src_uri] = page.fragments
    if _output.home is not None:
        _fragments["index.md"] = _output.home.fragments
    for src_uri, (_, page) in _output.splices.items():
        _fragments.setdefault(src_uri, {}).update(page.fragments)
    for script in (PLOTLY_SRC, PAGE_JS):
        if script not in [str(s) for s in config.extra_javascript]:
            config.extra_javascript.append(script)
    if PAGE_CSS not in config.extra_css:
        config.extra_css.append(PAGE_CSS)
    if config.nav is not None:
        # a hand-written page other engineers may add: listed once it exists
        contributing = Path(config.docs_dir) / "contributing.md"
        listed = [next(iter(e.values())) if isinstance(e, dict) else e for e in config.nav]
        if contributing.is_file() and "contributing.md" not in listed:
            config.nav.append({"Contributing": "contributing.md"})
        if _output.nav:
            config.nav.append({"Devices": _output.nav})
    log.info(
        "blockgemm: %d devices, %d pages, %d charts, %d downloads from %s in %.2f s",
        len(catalog.devices),
        len(_output.pages),
        _output.charts,
        len(_output.downloads),
        site_data,
        time.perf_counter() - start,
    )
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    assert _output is not None
    for page in _output.pages:
        files.append(File.generated(config, page.src_uri, content=page.markdown))
    for src_uri, content in _output.downloads.items():
        files.append(File.generated(config, src_uri, content=content))
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    files.append(File.generated(config, PLOTLY_SRC, abs_src_path=str(plotly_js)))
    return files


def on_page_markdown(markdown: str, page: MkPage, config: MkDocsConfig, files: Files) -> str:
    if _output is None:
        return markdown
    splice = _output.splices.get(page.file.src_uri)
    if splice is not None:
        marker, generated = splice
        if marker not in markdown:
            raise PluginError(f"blockgemm: {page.file.src_uri}: marker {marker} missing")
        markdown = markdown.replace(marker, generated.markdown, 1)
    if page.file.src_uri != "index.md" or _output.home is None:
        return markdown
    if HOME_MARKER in markdown:
        return markdown.replace(HOME_MARKER, _output.home.markdown, 1)
    return markdown + "\n\n" + _output.home.markdown


def on_page_content(html: str, page: MkPage, config: MkDocsConfig, files: Files) -> str:
    fragments = _fragments.get(page.file.src_uri)
    if not fragments:
        return html
    for key, fragment in fragments.items():
        if key not in html:
            raise PluginError(f"blockgemm: {page.file.src_uri}: placeholder {key} lost by markdown")
        html = html.replace(key, fragment, 1)
    return html


_ROOT_URL = re.compile(r'((?:href|src)=")/(?!/)')


def on_post_template(output_content: str, template_name: str, config: MkDocsConfig) -> str:
    """MkDocs writes ``404.html`` with root-absolute links (a server shows it at any depth),
    which resolve to the file system's root over file://: the page comes out unstyled. Make the
    links relative to the site root (where 404.html is) and, when served over HTTP, restore the
    root-absolute meaning with a ``<base>`` element written before any link is read."""
    if template_name != "404.html" or config.site_url:
        return output_content
    html = _ROOT_URL.sub(r"\1", output_content)
    html = html.replace('"base": "/"', '"base": "."').replace('"search": "/', '"search": "')
    base = (
        "<script>if (location.protocol !== 'file:') document.write('<base href=\"/\">');</script>"
    )
    return html.replace("<head>", "<head>" + base, 1)

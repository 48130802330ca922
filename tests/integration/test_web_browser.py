"""The web view in a real browser (Debian's chromium, headless, through Selenium and
chromium-driver) on the real pipeline: sign in, see a story appear live after an article
is published to articles.raw, see its copy join, open it, and a hostile headline render
as text; the topics chart is drawn; create a subscription through the form, test its
rule and see the matches, save it and see the next matching article alert. On failure a
screenshot is saved under .run/."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from devrig.localrig import free_port
from schemas.article_raw import RawArticle
from tests.integration.conftest import ROOT, publish

TOKEN = "browser-token"

PORT_STORY = (
    "Drones struck the river port of Izmail overnight, damaging a grain elevator and two "
    "barges that were waiting to be loaded, the regional military administration said on "
    "Wednesday. Firefighters worked until dawn to put out the blaze at the elevator, and "
    "no one was hurt, the administration added. The port on the Danube has become a main "
    "route for grain exports since the sea ports were blockaded, and shipping agents said "
    "loading would resume within days once the damaged berths were inspected."
)
OTHER_STORY = (
    "A new pedestrian bridge over the river opened in the city centre on Sunday after two "
    "years of works, the mayor said, adding that the old crossing would be closed for "
    "repairs until the spring. Residents gathered for a small ceremony with a brass band, "
    "and the first cyclists crossed shortly after noon. The city plans to plant trees "
    "along both banks next year and to add lighting for evening walks."
)


FERRY_STORY = (
    "The ferry between Izmail and the Romanian bank of the Danube resumed on Thursday "
    "after a week-long pause, the operator said, carrying trucks with grain and a dozen "
    "passenger cars on its first crossing. Drivers had waited in queues stretching for "
    "kilometres, and the customs service added staff at the checkpoint to clear them "
    "faster. The operator said a second vessel would join the route next month."
)


def _raw(id_: str, source: str, title: str, body: str) -> tuple[bytes, bytes]:
    article = RawArticle(id=id_, url=f"https://{source.lower().replace(' ', '-')}.example/"
                         f"{id_}", source=source, title=title, body=body,
                         published_at=datetime.now(UTC), fetched_at=datetime.now(UTC))
    return id_.encode(), article.to_bytes()


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.fail("chromium and chromium-driver are not installed; `make test` installs "
                    "them (scripts/install-browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shots = ROOT / ".run"
        shots.mkdir(exist_ok=True)
        driver.save_screenshot(str(shots / f"browser-{request.node.name}.png"))
    driver.quit()


async def _listening(url: str, timeout: float = 60) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout * 10)):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing answers at {url}")


def _stream_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "stream").text


async def test_a_story_appears_live_opens_with_its_copy_and_hostile_text_stays_text(
        namespace, bootstrap, make_pipeline, browser, servers):
    _, slack, smtp = servers
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipeline = make_pipeline({"WEB_PORT": str(port), "WEB_TOKEN": TOKEN,
                              "NOTIFIER_SMTP_PORT": str(smtp.port)})
    pipeline.start(only=("dedup", "classifier", "notifier", "web"))
    # A click that loads a page leaves the old page's elements stale for a moment: a
    # wait looks again rather than fail on one.
    wait = WebDriverWait(browser, 90, poll_frequency=0.2, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException))

    await _listening(f"{base}/healthz")
    # Signing in through the form brings the browser back to the page it asked for.
    browser.get(f"{base}/")
    wait.until(lambda d: d.find_elements(By.ID, "signin"))
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#signin button").click()
    wait.until(lambda d: d.find_elements(By.ID, "stream"))

    # Published to articles.raw: dedup and the classifier pass it on, and the open page
    # shows it without a reload.
    topic = namespace + "articles.raw"
    await publish(bootstrap, topic, [_raw("izmail-1", "Wire A", "Drones hit Izmail port",
                                          PORT_STORY)])
    wait.until(lambda d: "Drones hit Izmail port" in _stream_text(d))
    await publish(bootstrap, topic, [_raw("izmail-2", "Daily B",
                                          "Port of Izmail attacked overnight", PORT_STORY)])
    wait.until(lambda d: "+1 copies" in _stream_text(d))

    hostile = "<img src=x onerror=alert(1)> Bridge opens"
    await publish(bootstrap, topic, [_raw("bridge-1", "Regional C", hostile, OTHER_STORY)])
    wait.until(lambda d: "Bridge opens" in _stream_text(d))
    assert hostile in _stream_text(browser)  # the markup shows as text
    assert browser.find_elements(By.CSS_SELECTOR, "#stream img") == []

    browser.find_element(By.LINK_TEXT, "Drones hit Izmail port").click()
    wait.until(lambda d: d.find_elements(By.ID, "copies"))
    copies = browser.find_element(By.ID, "copies").text
    assert "Daily B" in copies and "Port of Izmail attacked overnight" in copies
    assert browser.find_element(By.ID, "story-title").text == "Drones hit Izmail port"

    # The topics page draws its chart with the vendored uPlot (no CDN).
    browser.get(f"{base}/topics?window=24h")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trend-chart canvas"))

    # A subscription made in the form: its rule tried on the history first, then saved;
    # the next article that matches it alerts on its Slack channel.
    browser.get(f"{base}/subscriptions")
    form = browser.find_element(By.ID, "subscription-form")
    for name, value in (("name", "danube-ports"), ("keywords", "Izmail"),
                        ("slack", slack.url("danube"))):
        form.find_element(By.NAME, name).send_keys(value)
    browser.find_element(By.ID, "test-rule").click()
    wait.until(lambda d: d.find_elements(By.ID, "trial"))
    trial = browser.find_element(By.ID, "trial")
    assert "would have matched 1 of 2 stories" in trial.text
    assert [m.text for m in trial.find_elements(By.TAG_NAME, "mark")] == ["Izmail"]
    form = browser.find_element(By.ID, "subscription-form")
    form.find_element(By.NAME, "slack").send_keys(slack.url("danube"))  # never echoed
    browser.find_element(By.ID, "save").click()
    wait.until(lambda d: "saved=danube-ports" in d.current_url)
    assert "danube-ports" in browser.find_element(By.ID, "subscriptions").text
    assert "/hooks/danube" not in browser.page_source  # the webhook is shown masked

    logs = [p.log_path for p in pipeline.of("notifier")]
    for _ in range(600):
        if all('msg="subscription added" subscription=danube-ports' in p.read_text()
               for p in logs):
            break
        await asyncio.sleep(0.1)
    await publish(bootstrap, topic, [_raw("izmail-3", "Radio D", "Izmail ferry resumes",
                                          FERRY_STORY)])
    for _ in range(900):
        if any(name == "danube" for name, _ in slack.received):
            break
        await asyncio.sleep(0.1)
    assert [name for name, _ in slack.received] == ["danube"]
    browser.get(f"{base}/alerts")
    wait.until(lambda d: "danube-ports" in d.find_element(By.ID, "alert-summary").text)

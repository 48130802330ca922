"""Screenshots of the web view for the README: invented stories in a store in a temporary
folder, the web app served on loopback, pages captured by headless chromium.

    .venv/bin/python -m devrig.screenshots docs/
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle, TopicTag
from schemas.article_duplicate import DuplicateArticle
from services.web.app import create_app
from services.web.store import HistoryStore

TOKEN = "screenshot"
STORIES = [
    ("Drones hit grain silos at the Danube port of Izmail", "Wire A", ["strikes", "economy"],
     "Drones struck the river port overnight, damaging a grain elevator and two barges.",
     [("Daily B", 0.94), ("Radio C", 0.91)]),
    ("Talks on a Black Sea shipping corridor resume in Istanbul", "Daily B", ["diplomacy"],
     "Delegations met for a second day to discuss safe passage for cargo ships.",
     [("Wire A", 0.97)]),
    ("Power cuts across three regions after strikes on substations", "Regional C",
     ["energy", "strikes"], "Grid operators said repairs would take several days.", []),
    ("Parliament approves a new budget for reconstruction", "Wire A", ["economy"],
     "The budget sets aside funds for housing and roads in liberated areas.", []),
]


def _store(path: Path) -> HistoryStore:
    store = HistoryStore(path)
    now = datetime.now(UTC).replace(microsecond=0)
    for n, (title, source, topics, body, copies) in enumerate(STORIES):
        at = now - timedelta(minutes=40 * n + 5)
        article = ClassifiedArticle(
            id=f"s{n}", url=f"https://example.org/{n}", source=source, title=title,
            body=body, published_at=at, fetched_at=at, story_id=f"s{n}", classifier="demo",
            topics=[TopicTag(id=t, score=0.9 - 0.1 * i, evidence=[body]) for i, t in
                    enumerate(topics)])
        store.add_classified(article)
        for k, (copy_source, similarity) in enumerate(copies):
            store.add_copy(DuplicateArticle(
                id=f"s{n}c{k}", url=f"https://copies.example/{n}/{k}", source=copy_source,
                title=title.replace("at the", "in"), body=body, duplicate_of=f"s{n}",
                similarity=similarity, published_at=at + timedelta(minutes=7 * (k + 1)),
                fetched_at=at + timedelta(minutes=7 * (k + 1))))
    store.add_alert(Alert(subscription_id="danube-ports", article_id="s0", story_id="s0",
                          title=STORIES[0][0], url="https://example.org/0", source="Wire A",
                          reasons=["keywords: Izmail"], channel="slack", outcome="delivered",
                          attempts=1, created_at=now))
    return store


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        store = _store(Path(folder) / "history.sqlite")
        server = uvicorn.Server(uvicorn.Config(create_app(store, TOKEN), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for argument in ("--headless=new", "--no-sandbox", "--window-size=1100,760",
                         "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                                  options=options)
        try:
            base = f"http://127.0.0.1:{port}"
            driver.get(f"{base}/signin")
            driver.find_element(By.ID, "token").send_keys(TOKEN)
            driver.find_element(By.CSS_SELECTOR, "#signin button").click()
            driver.find_element(By.ID, "stream")
            driver.save_screenshot(str(out / "web-stream.png"))
            driver.get(f"{base}/stories/s0")
            driver.find_element(By.ID, "copies")
            driver.save_screenshot(str(out / "web-story.png"))
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(10)
            store.close()
    print(f"wrote {out / 'web-stream.png'} and {out / 'web-story.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))

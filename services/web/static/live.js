// Live updates of the stream page: when the server says the stories changed, fetch the
// list again (rendered and escaped by the server) and put it in place. Without this
// script the page still works; it only needs a reload to show news.
(function () {
  "use strict";
  var list = document.getElementById("stream");
  if (!list || !window.EventSource || !window.fetch) {
    return;
  }
  var events = new EventSource("/events");
  events.addEventListener("stories", function () {
    fetch("/partials/stream" + window.location.search, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { list.innerHTML = html; } });
  });
})();

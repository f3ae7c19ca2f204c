// Follows deploys as they run: each line the pusher sees is appended to
// its environment's panel; when a deploy ends the page is read again.
// Checking hosts now (?check=APP/ENV) is a plain link: no script needed.
(function () {
  "use strict";
  var conn = document.getElementById("conn");
  var reloading = null;

  function lineClass(text) {
    if (text.indexOf("FAILED") >= 0) return "line bad";
    if (text.indexOf("deployed ") === 0 || text.indexOf(" rolled back to ") >= 0) return "line good";
    return "line";
  }

  function add(pre, text) {
    var span = document.createElement("span");
    span.className = lineClass(text);
    span.textContent = text + "\n";
    pre.appendChild(span);
  }

  function reload() {
    if (reloading === null) reloading = setTimeout(function () {
      // Read the page again, without asking the hosts again (?check=).
      location.replace(location.pathname);
    }, 200);
  }

  var es = new EventSource("/events");
  es.onopen = function () { conn.textContent = "live"; conn.className = "conn good"; };
  es.onerror = function () { conn.textContent = "reconnecting"; conn.className = "conn bad"; };
  es.onmessage = function (ev) {
    var m = JSON.parse(ev.data);
    var panel = document.getElementById("stream-" + m.app + "-" + m.env);
    if (!panel) {
      if (m.type === "end") reload(); // an app this page does not show yet
      return;
    }
    var pre = panel.querySelector(".lines");
    if (m.type === "start") {
      pre.textContent = "";
      (m.lines || []).forEach(function (l) { add(pre, l); });
      panel.hidden = false;
      panel.open = true;
      panel.classList.add("running");
      panel.querySelector(".state").textContent = "deploy running";
    } else if (m.type === "line") {
      add(pre, m.line);
      pre.scrollTop = pre.scrollHeight;
    } else if (m.type === "end") {
      panel.classList.remove("running");
      reload();
    }
  };
})();

// Live lists (Enqueued, Scheduled, Processing): the first page's rows are fetched again from the
// page's data-live-url every data-interval ms and put in place, without a reload.
// - The rows come as HTML rendered by the server from the same template as the page (escaped
//   there); nothing else from the response is used as markup. The count line and the state
//   tabs' counts (data-state-count) follow the same counters.
// - Accessible: the status line (role=status) says when jobs came or went, not every poll; the
//   table itself is not a live region. "Pause updates" stops the polling; no update happens
//   while focus is inside the table (a row's button or checkbox keeps its focus), and ticked
//   checkboxes stay ticked.
// - Without JavaScript the page is the plain list and the toggle stays hidden.
(function () {
  "use strict";
  const bar = document.querySelector("[data-live-list]");
  const body = document.querySelector("tbody[data-live-rows]");
  if (!bar || !body) return;
  const url = bar.dataset.liveUrl;
  const interval = Math.max(1000, parseInt(bar.dataset.interval, 10) || 2000);
  const toggle = bar.querySelector("[data-live-toggle]");
  const status = document.getElementById("live-status");
  let paused = false;
  let lastRows = null;
  let updates = 0;
  let timer = null;

  function idsOnPage() {
    return Array.from(body.querySelectorAll("tr[data-job-id]")).map((row) => row.dataset.jobId);
  }

  function say(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  // The state tabs' counts, from the same counters as the count line. Plain text, set as text.
  // Not announced: a count that moves at every poll would be read out at every poll; the
  // status line says what changed in this list.
  function showTabCounts(states) {
    if (!states) return;
    document.querySelectorAll("[data-state-count]").forEach((span) => {
      const text = states[span.dataset.stateCount];
      if (typeof text === "string" && span.textContent !== text) span.textContent = text;
    });
  }

  function show(data) {
    const count = document.getElementById("list-count");
    if (count && count.innerHTML !== data.count) count.innerHTML = data.count;  // (server-rendered)
    showTabCounts(data.states);
    if (body.contains(document.activeElement)) return;  // never move focus from under the reader
    if (data.rows === lastRows) return;
    const before = idsOnPage();
    const ticked = new Set(
      Array.from(body.querySelectorAll('input[name="job"]:checked')).map((box) => box.value),
    );
    body.innerHTML = data.rows;
    lastRows = data.rows;
    body.querySelectorAll('input[name="job"]').forEach((box) => {
      box.checked = ticked.has(box.value);
    });
    const form = body.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));  // the selection count
    const added = data.ids.filter((id) => before.indexOf(id) < 0);
    const gone = before.filter((id) => data.ids.indexOf(id) < 0);
    added.forEach((id) => {
      const row = body.querySelector('tr[data-job-id="' + id + '"]');
      if (row) row.classList.add("live-new");
    });
    updates += 1;
    bar.dataset.updates = String(updates);
    if (added.length || gone.length) {
      const parts = [];
      if (added.length) parts.push(plural(added.length, "job") + " came");
      if (gone.length) parts.push(plural(gone.length, "job") + " left");
      say("Updated at " + clock(data.now) + ": " + parts.join(", ") + ".");
    }
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    if (paused) return;
    if (document.hidden) {
      schedule(interval);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => {
        if (response.redirected || response.status === 401 || response.status === 403) {
          throw new Error("signed out: reload the page to log in again");
        }
        return response.json().then((data) => {
          if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
          return data;
        });
      })
      .then((data) => {
        show(data);
        bar.dataset.polledAt = data.now;
        schedule(interval);
      })
      .catch((error) => {
        say("Not updating (" + error.message + ").");
        schedule(interval * 3);
      });
  }

  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    toggle.textContent = paused ? "Resume updates" : "Pause updates";
    say(paused ? "Updates paused." : "Updates resumed.");
    if (!paused) schedule(0);
  });
  say("This list updates itself every " + Math.round(interval / 100) / 10 + " s.");
  schedule(interval);
})();

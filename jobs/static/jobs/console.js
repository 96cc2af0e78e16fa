// The job console's page behaviours: select-all for bulk actions, confirmation of destructive
// actions, and the job detail's live part (state, progress, output per attempt) polled from its
// live.json while the job may still change. Plain DOM, no library. Text from the server is only
// ever set with textContent.
(function () {
  "use strict";

  function updateSelection(form) {
    const boxes = form.querySelectorAll('input[type="checkbox"][name="job"]');
    const chosen = Array.prototype.filter.call(boxes, (box) => box.checked).length;
    form.querySelectorAll("[data-selected-count]").forEach((node) => {
      node.textContent = chosen ? chosen + " selected" : "";
    });
    form.querySelectorAll("[data-needs-selection]").forEach((button) => {
      button.disabled = chosen === 0;
    });
    const all = form.querySelector("input[data-select-all]");
    if (all) {
      all.checked = chosen > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    }
  }

  document.querySelectorAll("form[data-bulk]").forEach((form) => {
    form.addEventListener("change", (event) => {
      if (event.target.matches("input[data-select-all]")) {
        form.querySelectorAll('input[type="checkbox"][name="job"]').forEach((box) => {
          box.checked = event.target.checked;
        });
      }
      updateSelection(form);
    });
    updateSelection(form);
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
  // --- The job detail, live: poll data-live-url until the job reaches a final state ----------
  function outputSection(list, attempt) {
    let section = list.querySelector('[data-output-attempt="' + attempt + '"]');
    if (section) {
      return section;
    }
    section = document.createElement("section");
    section.className = "job-output";
    section.dataset.outputAttempt = String(attempt);
    const heading = document.createElement("h3");
    heading.textContent = "Attempt " + attempt + " ";
    const size = document.createElement("span");
    size.className = "quiet";
    size.dataset.outputSize = "";
    heading.appendChild(size);
    const pre = document.createElement("pre");
    pre.className = "output";
    pre.setAttribute("role", "log");
    pre.tabIndex = 0;
    pre.setAttribute("aria-label", "Output of attempt " + attempt);
    section.appendChild(heading);
    section.appendChild(pre);
    list.appendChild(section);
    return section;
  }

  function showLive(root, data) {
    root.dataset.state = data.state;
    const progress = root.querySelector("#job-progress");
    if (progress && data.progress !== null) {
      progress.hidden = false;
      const percent = Math.max(0, Math.min(100, data.progress));
      progress.querySelector("[data-progress-bar] .done-succeeded").setAttribute("width", String(percent));
      progress.querySelector("[data-progress-bar]").setAttribute("aria-label", percent + " percent");
      progress.querySelector("[data-progress-percent]").textContent = percent + "%";
      const message = progress.querySelector("[data-progress-message]");
      if (message.textContent !== data.progress_message) {
        message.textContent = data.progress_message;
      }
    }
    const list = root.querySelector("[data-output-list]");
    if (list) {
      data.outputs.forEach((output) => {
        const section = outputSection(list, output.attempt);
        const pre = section.querySelector("pre.output");
        if (pre.textContent !== output.text) {
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.textContent = output.text;
          if (atBottom) {
            pre.scrollTop = pre.scrollHeight;
          }
        }
        section.querySelector("[data-output-size]").textContent =
          output.size + " bytes" + (output.truncated ? ", truncated" : "");
      });
      const empty = root.querySelector("[data-output-empty]");
      if (empty) {
        empty.hidden = data.outputs.length > 0;
      }
    }
  }

  const liveRoot = document.querySelector("[data-live-url]");
  if (liveRoot) {
    const interval = Math.max(500, parseInt(liveRoot.dataset.liveInterval, 10) || 2000);
    const poll = () => {
      fetch(liveRoot.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((data) => {
          showLive(liveRoot, data);
          if (data.live) {
            window.setTimeout(poll, interval);
          } else {
            liveRoot.dataset.liveDone = "true";  // final: the timeline needs a reload to show it
          }
        })
        .catch(() => window.setTimeout(poll, interval * 2));
    };
    window.setTimeout(poll, interval);
  }
})();

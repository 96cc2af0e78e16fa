// The job console's page behaviours: select-all for bulk actions, confirmation of destructive
// actions. Plain DOM, no library. Text from the server is only ever set with textContent.
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
})();

/* tenantdocs: a copy button after every value an admin pastes into an app.
 *
 * Values are marked in the HTML as <code class="td-value">; without this script they are
 * still shown (and selectable) as code. Values inside links get no button (a click there
 * follows the link).
 */
(function () {
  "use strict";

  var COPY_ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M19 21H8V7h11m0-2H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2m-3-4H4a2 2 0 0 0-2 2v14h2V3h12z"/></svg>';
  var DONE_ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 7 9 19l-5.5-5.5 1.41-1.41L9 16.17 19.59 5.59z"/></svg>';

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Pages opened from the file system may have no Clipboard API.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      document.body.removeChild(area);
      if (copied) {
        resolve();
      } else {
        reject(new Error("the browser refused to copy"));
      }
    });
  }

  function addButtons() {
    var values = document.querySelectorAll("code.td-value");
    for (var i = 0; i < values.length; i++) {
      var code = values[i];
      var next = code.nextElementSibling;
      if (code.closest("a") || (next && next.classList.contains("td-copy"))) {
        continue;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "td-copy";
      button.title = "Copy to clipboard";
      button.setAttribute("aria-label", "Copy " + code.textContent);
      button.innerHTML = COPY_ICON;
      code.insertAdjacentElement("afterend", button);
    }
  }

  function show(button, title, icon) {
    button.title = title;
    button.innerHTML = icon;
    button.classList.toggle("td-copied", icon === DONE_ICON);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.td-copy") : null;
    if (!button) {
      return;
    }
    var code = button.previousElementSibling;
    copyText(code.textContent).then(
      function () {
        show(button, "Copied", DONE_ICON);
        window.setTimeout(function () {
          show(button, "Copy to clipboard", COPY_ICON);
        }, 1500);
      },
      function () {
        show(button, "Copying failed: select the value and copy it", COPY_ICON);
      }
    );
  });

  // Material publishes each (re)loaded page on document$; without it, run once.
  if (typeof window.document$ !== "undefined") {
    window.document$.subscribe(addButtons);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addButtons);
  } else {
    addButtons();
  }
})();

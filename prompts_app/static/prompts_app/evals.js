/* PromptLedger admin: eval badges that follow their run without a reload, and
   the promote page's eval panel that follows its version dropdown.

   Plain JavaScript, no library, no CDN. Both read only: GETs of
   admin:prompts_app_evalrun_status (JSON) and admin:prompts_app_evalrun_promote_panel
   (an HTML fragment); see prompts_app/admin/evals.py.

   Badges (evalrun/_badge.html) carry data-pl-poll (the status URL of their
   prompt), data-pl-run, data-pl-status, and data-pl-version when they stand for
   their version's latest run. While any badge on the page is queued or running,
   the page asks every ~2 s and swaps in the new badges; it stops as soon as none
   is. When a badge changes, regions marked data-pl-refresh (with an id) are
   re-read from the same page, so the figures around a badge follow it too. */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var MAX_POLLS = 1800; // an hour at most: a run that never finishes is timed out by the sweeper
  var ACTIVE = { queued: true, running: true };
  var state = { polls: 0, polling: false, timer: null, panels: 0 };
  window.plEvalStatus = state; // for the browser tests and the curious

  function toArray(list) {
    return Array.prototype.slice.call(list);
  }

  function badges() {
    return toArray(document.querySelectorAll(".pl-status[data-pl-poll]"));
  }

  function isActive(badge) {
    return ACTIVE[badge.getAttribute("data-pl-status")] === true;
  }

  function fromHtml(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function schedule() {
    if (state.timer !== null || state.polls >= MAX_POLLS) {
      return;
    }
    state.polling = badges().some(isActive);
    if (state.polling) {
      state.timer = window.setTimeout(poll, INTERVAL_MS);
    }
  }

  // Swap the badges of one status URL; true when one of them changed.
  function apply(url, data) {
    var changed = false;
    badges().forEach(function (badge) {
      if (badge.getAttribute("data-pl-poll") !== url) {
        return;
      }
      var version = badge.getAttribute("data-pl-version");
      var fresh = (version && data.versions[version]) || data.runs[badge.getAttribute("data-pl-run")];
      if (!fresh) {
        return;
      }
      var sameRun = String(fresh.run) === badge.getAttribute("data-pl-run");
      if (sameRun && fresh.status === badge.getAttribute("data-pl-status")) {
        return;
      }
      changed = true;
      var element = fromHtml(fresh.html);
      if (element) {
        badge.replaceWith(element);
      }
    });
    return changed;
  }

  function refreshRegions() {
    var regions = toArray(document.querySelectorAll("[data-pl-refresh][id]"));
    if (!regions.length) {
      return Promise.resolve();
    }
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var fresh = page.getElementById(region.id);
          if (fresh) {
            region.replaceWith(document.importNode(fresh, true));
          }
        });
      })
      .catch(function () {});
  }

  function poll() {
    state.timer = null;
    var active = badges().filter(isActive);
    if (!active.length) {
      state.polling = false;
      return;
    }
    state.polls += 1;
    var runsByUrl = {};
    active.forEach(function (badge) {
      var url = badge.getAttribute("data-pl-poll");
      (runsByUrl[url] = runsByUrl[url] || []).push(badge.getAttribute("data-pl-run"));
    });
    var asks = Object.keys(runsByUrl).map(function (url) {
      var query = runsByUrl[url].map(function (run) {
        return "&run=" + encodeURIComponent(run);
      }).join("");
      return fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          return data ? apply(url, data) : false;
        })
        .catch(function () {
          return false;
        });
    });
    Promise.all(asks).then(function (changed) {
      var after = changed.some(Boolean) ? refreshRegions() : Promise.resolve();
      after.then(schedule);
    });
  }

  // The promote page: the panel under the form shows the version chosen above.
  function followSelects() {
    toArray(document.querySelectorAll("[data-pl-panel-url]")).forEach(function (panel) {
      var select = document.querySelector(panel.getAttribute("data-pl-panel-select"));
      if (!select) {
        return;
      }
      function load() {
        var wanted = select.value;
        panel.setAttribute("aria-busy", "true");
        fetch(panel.getAttribute("data-pl-panel-url") + "&version=" + encodeURIComponent(wanted),
              { credentials: "same-origin" })
          .then(function (response) {
            return response.ok ? response.text() : Promise.reject(response.status);
          })
          .then(function (html) {
            if (select.value !== wanted) {
              return; // a later choice is on its way
            }
            panel.innerHTML = html;
            panel.setAttribute("data-pl-panel-version", wanted);
            panel.removeAttribute("aria-busy");
            state.panels += 1;
            schedule();
          })
          .catch(function () {
            panel.removeAttribute("aria-busy");
          });
      }
      select.addEventListener("change", load);
      // A browser that restores the form on "back" may show another version than the panel.
      if (panel.getAttribute("data-pl-panel-version") !== select.value) {
        load();
      }
    });
  }

  function start() {
    followSelects();
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

// A little script on top of pages that work without it: tabs on Tenant Registration, the
// personnel ID shown as it is typed, focus on error summaries, and live progress of a request.
"use strict";

function setUpTabs(root) {
  const list = root.querySelector("[data-tablist]");
  const panels = Array.from(root.querySelectorAll(".tab-panel"));
  if (!list || panels.length === 0) return;
  const tabs = Array.from(list.querySelectorAll("button"));
  list.hidden = false;
  list.setAttribute("role", "tablist");

  function select(index, focus) {
    tabs.forEach((tab, i) => {
      const on = i === index;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      panels[i].hidden = !on;
    });
    if (focus) tabs[index].focus();
  }
  tabs.forEach((tab, i) => {
    tab.setAttribute("role", "tab");
    panels[i].setAttribute("role", "tabpanel");
    panels[i].setAttribute("aria-labelledby", tab.id);
    panels[i].tabIndex = 0;
    tab.addEventListener("click", () => select(i, false));
    tab.addEventListener("keydown", (e) => {
      const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
      if (e.key in moves) {
        e.preventDefault();
        select((moves[e.key] + tabs.length) % tabs.length, true);
      }
    });
  });
  root.querySelectorAll("[data-next-tab]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => {
      const index = tabs.findIndex((t) => t.getAttribute("aria-controls") === button.dataset.nextTab);
      select(index, true);
    });
  });
  const first = Math.max(0, tabs.findIndex((t) => t.dataset.selected === "true"));
  select(first, false);

  // A link to a field in a hidden panel opens that panel first.
  document.querySelectorAll("a[href^='#']").forEach((link) => {
    link.addEventListener("click", (e) => {
      const field = document.getElementById(link.getAttribute("href").slice(1));
      const panel = field && field.closest(".tab-panel");
      if (!panel) return;
      e.preventDefault();
      select(panels.indexOf(panel), false);
      field.focus();
    });
  });
}

function setUpPersonnelId() {
  const input = document.getElementById("admin_user_name");
  const output = document.getElementById("personnel-id");
  if (!input || !output) return;
  const show = () => { output.textContent = "prp" + input.value.trim(); };
  input.addEventListener("input", show);
  show();
}

// While a request is waiting or provisioning, its page reloads its progress section in place.
function followProgress() {
  const section = document.getElementById("progress");
  if (!section || !section.hasAttribute("data-live")) return;
  const tick = async () => {
    try {
      const answer = await fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (!answer.ok) return setTimeout(tick, 3000);
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.getElementById("progress");
      if (!fresh) return;
      const current = document.getElementById("progress");
      const before = current.querySelector("[data-status]");
      const after = fresh.querySelector("[data-status]");
      const announce = document.getElementById("announce");
      if (announce && after && (!before || before.textContent !== after.textContent)) {
        announce.textContent = after.textContent;
      }
      const focused = document.activeElement && current.contains(document.activeElement);
      current.replaceWith(fresh);
      const history = page.getElementById("history");
      if (history) document.getElementById("history").replaceWith(history);
      if (focused) fresh.focus();
      if (fresh.hasAttribute("data-live")) setTimeout(tick, 1000);
    } catch (_) {
      setTimeout(tick, 3000);
    }
  };
  setTimeout(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  setUpPersonnelId();
  followProgress();
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});

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

  // Enter in a field of a tab that is not the last goes on to the next tab, as its Next
  // button does, instead of sending a form that is only partly filled.
  panels.forEach((panel, i) => {
    if (i === panels.length - 1) return;
    panel.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.target.tagName !== "INPUT") return;
      e.preventDefault();
      select(i + 1, false);
      const next = panels[i + 1].querySelector("input, select, textarea");
      if (next) next.focus();
    });
  });

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
  // The preview shows only what the portal would make: a name it would refuse gets the rule.
  const show = () => {
    const name = input.value.trim();
    if (/^prp/i.test(name)) {
      output.textContent = "type it without prp: the portal adds prp";
    } else if (/^[A-Za-z0-9]*$/.test(name)) {
      output.textContent = "prp" + name;
    } else {
      output.textContent = "letters A-Z and digits only";
    }
  };
  input.addEventListener("input", show);
  show();
}

// While a request is waiting, provisioning or emailing, its page fetches itself and swaps in
// its progress section when it changed: every second while things move, every ten seconds
// while it waits for its window. Focus stays on the link it was on; a new status is announced.
function followProgress() {
  const first = document.getElementById("progress");
  if (!first || !first.hasAttribute("data-live")) return;
  const delay = (section) => (section.dataset.live === "slow" ? 10000 : 1000);
  const tick = async () => {
    let wait = 3000;
    try {
      const answer = await fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById("progress");
        const current = document.getElementById("progress");
        if (!fresh || !current) return;
        if (fresh.outerHTML !== current.outerHTML) {
          const before = current.querySelector("[data-status]");
          const after = fresh.querySelector("[data-status]");
          const announce = document.getElementById("announce");
          if (announce && after && (!before || before.textContent !== after.textContent)) {
            announce.textContent = "Status: " + after.textContent;
          }
          const focused = document.activeElement;
          const href = focused && current.contains(focused) ? focused.getAttribute("href") : null;
          current.replaceWith(fresh);
          const history = page.getElementById("history");
          const oldHistory = document.getElementById("history");
          if (history && oldHistory) oldHistory.replaceWith(history);
          if (href) {
            const again = Array.from(fresh.querySelectorAll("a[href]")).find((a) => a.getAttribute("href") === href);
            (again || fresh).focus();
          }
        }
        if (!fresh.hasAttribute("data-live")) return;
        wait = delay(fresh);
      }
    } catch (_) {
      // The portal may be restarting: try again a little later.
    }
    setTimeout(tick, wait);
  };
  setTimeout(tick, delay(first));
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  setUpPersonnelId();
  followProgress();
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});

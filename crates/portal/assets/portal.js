// A little script on top of pages that work without it: tabs on Tenant Registration, the
// personnel ID shown as it is typed, focus on error summaries, live progress of a request,
// and the browser's passkey prompts.
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

// Staff registering a tenant see whether its Name, Short Name and UPN suffix are free as they
// type them: a short pause after the last key, then the portal's answer beside the field,
// "available" or "already used by" with a link to what holds it. A name that breaks its
// rule gets nothing here: the form says what is wrong when it is sent.
function setUpAvailability() {
  const form = document.querySelector("form[data-availability]");
  if (!form) return;
  ["name", "short_name", "upn_suffix"].forEach((field) => {
    const input = document.getElementById(field);
    if (!input) return;
    const note = document.createElement("span");
    note.className = "availability";
    note.id = field + "-availability";
    note.setAttribute("role", "status");
    input.insertAdjacentElement("afterend", note);
    const described = (input.getAttribute("aria-describedby") || "").trim();
    input.setAttribute("aria-describedby", (described + " " + note.id).trim());
    let timer = null;
    let asked = 0;
    const show = (found) => {
      note.replaceChildren();
      delete note.dataset.state;
      if (!found) return;
      if (found.available) {
        note.dataset.state = "available";
        note.textContent = "available";
      } else if (found.code === "taken") {
        note.dataset.state = "taken";
        const holder = found.held_by;
        if (!holder) {
          note.textContent = "already used";
          return;
        }
        const tenant = holder.kind === "tenant";
        note.append(tenant ? "already used by tenant " : "already used by the request for ");
        const link = document.createElement("a");
        link.href = (tenant ? "/tenants/" : "/requests/") + encodeURIComponent(holder.id);
        link.textContent = holder.name;
        note.append(link);
      }
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const value = input.value.trim();
      const mine = ++asked;
      if (!value) {
        show(null);
        return;
      }
      timer = setTimeout(async () => {
        try {
          const query = new URLSearchParams({ [field]: value });
          const answer = await fetch("/api/v1/availability?" + query, {
            credentials: "same-origin",
            headers: { Accept: "application/json" },
            cache: "no-store",
          });
          if (!answer.ok || mine !== asked) return;
          show((await answer.json())[field]);
        } catch (_) {
          // The portal is unreachable for a moment: the form checks the names when it is sent.
        }
      }, 300);
    });
  });
}

// While a request is waiting, provisioning or emailing, its page fetches itself and swaps in
// its progress section when it changed: every second while things move, every ten seconds
// while it waits for its window. Its polls say so (X-Portal-Poll), so that a page left open
// does not keep its session from going idle. Focus stays on the link it was on; a new status is announced.
function followProgress() {
  const first = document.getElementById("progress");
  if (!first || !first.hasAttribute("data-live")) return;
  const delay = (section) => (section.dataset.live === "slow" ? 10000 : 1000);
  const tick = async () => {
    let wait = 3000;
    try {
      const answer = await fetch(window.location.href, { headers: { Accept: "text/html", "X-Portal-Poll": "1" }, cache: "no-store" });
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

// Passkeys: the browser's WebAuthn prompts around the portal's JSON calls. Without script,
// or in a browser without WebAuthn, the passkey buttons stay hidden.
function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64Url(buffer) {
  let binary = "";
  new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (_) {
    answer = null;
  }
  if (!response.ok) {
    const said = answer && answer.error && answer.error.message;
    throw new Error(said || "The portal could not do this; try again.");
  }
  return answer;
}

function passkeyProblem(status, err) {
  status.textContent = err && err.name === "NotAllowedError"
    ? "The passkey prompt was closed or timed out; try again."
    : (err && err.message) || "Try again.";
  status.hidden = false;
}

async function addPasskey(form) {
  const name = form.querySelector("#passkey_name").value;
  const started = await postJson("/account/passkeys/options", { name });
  const publicKey = started.options.publicKey;
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  publicKey.user.id = fromBase64Url(publicKey.user.id);
  (publicKey.excludeCredentials || []).forEach((c) => { c.id = fromBase64Url(c.id); });
  const made = await navigator.credentials.create({ publicKey });
  const credential = {
    id: made.id,
    rawId: toBase64Url(made.rawId),
    type: made.type,
    response: {
      attestationObject: toBase64Url(made.response.attestationObject),
      clientDataJSON: toBase64Url(made.response.clientDataJSON),
    },
    extensions: made.getClientExtensionResults(),
  };
  await postJson("/account/passkeys", { ceremony: started.ceremony, credential });
  window.location.assign("/account/two-factor?done=passkey-added");
}

async function signInWithPasskey(box) {
  const username = document.getElementById("username");
  const body = box.dataset.challenge
    ? { challenge: box.dataset.challenge }
    : { username: username ? username.value : "" };
  const started = await postJson("/sign-in/passkey/options", body);
  const publicKey = started.options.publicKey;
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  (publicKey.allowCredentials || []).forEach((c) => { c.id = fromBase64Url(c.id); });
  const got = await navigator.credentials.get({ publicKey });
  const credential = {
    id: got.id,
    rawId: toBase64Url(got.rawId),
    type: got.type,
    response: {
      authenticatorData: toBase64Url(got.response.authenticatorData),
      clientDataJSON: toBase64Url(got.response.clientDataJSON),
      signature: toBase64Url(got.response.signature),
      userHandle: got.response.userHandle ? toBase64Url(got.response.userHandle) : null,
    },
    extensions: got.getClientExtensionResults(),
  };
  const next = box.dataset.next || "";
  const done = await postJson("/sign-in/passkey", { ceremony: started.ceremony, credential, next });
  window.location.assign(done.redirect);
}

function setUpPasskeys() {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  const form = document.querySelector("[data-passkey-add]");
  if (form) {
    form.hidden = false;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      addPasskey(form).catch((err) => passkeyProblem(form.querySelector("#passkey-status"), err));
    });
  }
  document.querySelectorAll("[data-passkey-sign-in]").forEach((box) => {
    box.hidden = false;
    box.querySelector("button").addEventListener("click", () => {
      signInWithPasskey(box).catch((err) => passkeyProblem(box.querySelector("#passkey-status"), err));
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  setUpPersonnelId();
  setUpAvailability();
  followProgress();
  setUpPasskeys();
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});

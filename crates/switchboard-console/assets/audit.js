// Switchboard console: the audit logs' section. Loaded after console.js,
// whose helpers (api, el, td, row, fill, state, $) it uses; like it, it
// writes server data with textContent only.
"use strict";

const AUDIT_MS = 2000;

function verification(v) {
  if (!v) return td("not yet", "muted");
  const when = new Date(v.at).toLocaleTimeString();
  if (!v.ok) return td("FAILED " + when + ": " + (v.error || ""), "error");
  let text = "ok " + when + ": " + v.records + " records";
  if (v.head !== null && v.head !== undefined) text += ", last n=" + v.head;
  if (v.checkpoint) text += "; checkpoint #" + v.checkpoint[0] + " covers " + v.checkpoint[1];
  if (v.unanchored !== null && v.unanchored !== undefined) text += ", " + v.unanchored + " after it";
  return td(text);
}

function renderAudits(audits) {
  $("#audit-section").hidden = audits.length === 0;
  fill($("#audits tbody"), audits.map((a) => {
    const cell = el("td");
    if (state.actions) {
      const button = el("button", "verify now");
      button.type = "button";
      button.addEventListener("click", () => verifyAudit(a.name));
      cell.appendChild(button);
    } else {
      cell.textContent = "off";
      cell.className = "muted";
    }
    const writing = a.failing ? td("failing: " + a.failing, "error") : td(a.file || "", "muted");
    return row([
      td(a.name + (a.signed ? " (signed)" : "")),
      td(a.records, "num"),
      td(a.checkpoints, "num"),
      td(a.witness_behind, "num"),
      writing,
      verification(a.last_verify),
      cell,
    ]);
  }));
}

async function pollAudits() {
  try {
    renderAudits(await api("/api/audit"));
  } catch (e) {
    $("#audit-result").textContent = String(e.message || e);
  }
}

async function verifyAudit(name) {
  const out = $("#audit-result");
  out.textContent = name + ": verifying…";
  try {
    const res = await api("/api/audit/" + encodeURIComponent(name) + "/verify", { method: "POST" });
    out.textContent = name + ": " + res.outcome;
  } catch (e) {
    out.textContent = name + ": verify failed: " + (e.message || e);
  }
  pollAudits();
}

setInterval(pollAudits, AUDIT_MS);
pollAudits();

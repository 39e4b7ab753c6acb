// Muse moderators' web view: keep the page in step with decisions made elsewhere (Discord,
// another tab). Every few seconds it asks /api/status which reviews are still pending, removes
// the ones that are not, and says when new ones arrived. The page works without it.
"use strict";

const POLL_MS = 5000;

function pendingOnPage() {
  return Array.from(document.querySelectorAll("[data-review]"));
}

function setText(id, value) {
  const node = document.getElementById(id);
  if (node) node.textContent = String(value);
}

async function refresh() {
  const response = await fetch("/api/status", { credentials: "same-origin", cache: "no-store" });
  const news = document.getElementById("news");
  if (response.status === 401) {
    news.textContent = "Your session ended; reload the page to sign in again.";
    news.hidden = false;
    return false;
  }
  if (!response.ok) return true;
  const status = await response.json();
  const still = new Set(status.pending);
  const shown = new Set();
  for (const node of pendingOnPage()) {
    const id = Number(node.dataset.review);
    if (still.has(id)) shown.add(id);
    else node.remove();
  }
  const list = document.getElementById("pending");
  if (pendingOnPage().length === 0 && !document.getElementById("nothing-pending")) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.id = "nothing-pending";
    empty.textContent = "Nothing is waiting for review.";
    list.append(empty);
  }
  const fresh = status.pending.filter((id) => !shown.has(id)).length;
  setText("pending-total", status.pending_total);
  setText("queue-queued", status.queue.queued);
  setText("queue-running", status.queue.running);
  if (fresh > 0) {
    news.textContent = `${fresh} new item(s) waiting: reload the page to see them.`;
    news.hidden = false;
  }
  return true;
}

function loop() {
  refresh()
    .then((again) => { if (again) setTimeout(loop, POLL_MS); })
    .catch(() => setTimeout(loop, POLL_MS * 3));
}

if (document.getElementById("pending")) setTimeout(loop, POLL_MS);

// The run page's live view: poll the run's status API and update the status, stage and event count as text
// (never as HTML: run text is untrusted). Served from this app, so the page's CSP allows it and nothing inline.
(function () {
  const script = document.currentScript;
  const run = script.dataset.run;
  const seen = Number(script.dataset.events);
  const done = ["completed", "failed", "stopped"];
  const text = (id, value) => { const node = document.getElementById(id); if (node) node.textContent = value; };
  async function poll() {
    try {
      const reply = await fetch("/api/runs/" + encodeURIComponent(run), {credentials: "same-origin"});
      if (!reply.ok) return;
      const data = await reply.json();
      text("live-status", data.status + (data.status_detail ? " " + data.status_detail : ""));
      text("live-stage", data.stage || "-");
      text("live-events", String(data.events));
      if (data.events > seen) text("live-new", (data.events - seen) + " new events since this page was loaded");
      if (done.includes(data.status) && data.events <= seen) clearInterval(timer);
    } catch (err) { /* the server restarted: try again next tick */ }
  }
  const timer = setInterval(poll, Number(script.dataset.interval || 2000));
})();

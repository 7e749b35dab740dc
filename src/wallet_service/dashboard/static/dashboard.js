// The dashboard's only script (the Content-Security-Policy allows no inline script).
// The token is kept in sessionStorage only and sent only as a bearer header to this origin.
(function () {
  "use strict";

  const KEY = "wallet-service.dashboard.token";
  const COLOURS = ["#2563eb", "#f79009", "#12b76a", "#9e77ed"];
  const $ = (id) => document.getElementById(id);
  let chart = null;

  function say(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.className = kind || "";
    box.hidden = !text;
  }

  function signedOut(text) {
    sessionStorage.removeItem(KEY);
    if (chart) { chart.destroy(); chart = null; }
    $("panels").replaceChildren();
    $("session").hidden = true;
    $("sign-in").hidden = false;
    $("token").value = "";
    say(text || "", "");
  }

  // What to tell the person when the service refuses the token (problem+json `detail`).
  function refusal(status, problem) {
    const detail = (problem && problem.detail) || "";
    if (status === 401 && /expired/i.test(detail)) {
      return "Your token has expired. Paste a new one.";
    }
    if (status === 401) {
      return "This token was not accepted (" + (detail || "not a valid token") + "). Paste a valid token.";
    }
    if (status === 403) {
      return "This token cannot open the dashboard: " + (detail || "not allowed") + ".";
    }
    return "";
  }

  async function load() {
    const token = sessionStorage.getItem(KEY);
    if (!token) { signedOut(""); return; }
    say("Loading…", "info");
    let response;
    try {
      response = await fetch("/dashboard/overview", {
        headers: { Authorization: "Bearer " + token },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      say("The service cannot be reached. Check that it is running, then press Refresh.", "");
      $("session").hidden = false;
      return;
    }
    if (response.ok) {
      $("panels").innerHTML = await response.text();  // rendered and escaped by the server
      $("sign-in").hidden = true;
      $("session").hidden = false;
      say("", "");
      drawChart();
      return;
    }
    let problem = null;
    try { problem = await response.json(); } catch (err) { problem = null; }
    const refused = refusal(response.status, problem);
    if (refused) { signedOut(refused); return; }
    $("session").hidden = false;
    say("The service answered " + response.status + ": " +
        ((problem && problem.detail) || response.statusText) + ". Press Refresh to try again.", "");
  }

  // The chart draws the figures of the table above it, so both always agree.
  function drawChart() {
    const canvas = $("spend-chart");
    const rows = Array.from(document.querySelectorAll("#spend-table tbody tr"));
    if (!canvas || typeof Chart === "undefined") return;
    const months = [...new Set(rows.map((r) => r.dataset.month))];
    const currencies = [...new Set(rows.map((r) => r.dataset.currency))];
    const datasets = currencies.map((currency, i) => ({
      label: "Net spend (" + currency + ")",
      data: months.map((month) => {
        const row = rows.find((r) => r.dataset.month === month && r.dataset.currency === currency);
        return row ? Number(row.dataset.net) : 0;
      }),
      backgroundColor: COLOURS[i % COLOURS.length],
    }));
    if (chart) chart.destroy();
    chart = new Chart(canvas, {
      type: "bar",
      data: { labels: months, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    $("token").value = "";
    load();
  });
  $("sign-out").addEventListener("click", () => signedOut("Signed out: the token is forgotten."));
  $("refresh").addEventListener("click", load);
  load();
})();

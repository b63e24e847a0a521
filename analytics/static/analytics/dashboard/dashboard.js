// The dashboard (SPEC §11): reads its state from the URL, asks the query API for every number, draws them.
(function () {
  "use strict";
  const body = document.body;
  const API = body.dataset.api;
  const FIELDS = ["range", "start_date", "end_date", "compare", "compare_to", "country_codes", "author_username", "blog_id", "blog_title", "title"];
  const form = document.getElementById("controls");
  const errorBox = document.getElementById("error");
  let chart = null;
  let loads = 0;  // the latest load wins: an older answer arriving late must not overwrite a newer one
  let refreshing = null;  // the one token refresh under way: the page's requests may all meet the same expiry

  function token() { return sessionStorage.getItem("ideeza.access"); }

  function stateFromUrl() {
    const params = new URLSearchParams(location.search);
    const state = {};
    FIELDS.forEach((f) => { if (params.get(f)) state[f] = params.get(f); });
    return state;
  }

  // The API request body for a state: exactly what the tests send to check the numbers.
  function requestBody(state) {
    const b = {};
    ["range", "start_date", "end_date", "author_username", "compare_to"].forEach((f) => { if (state[f]) b[f] = state[f]; });
    if (state.country_codes) b.country_codes = state.country_codes.split(",").map((s) => s.trim()).filter(Boolean);
    if (state.blog_id) b.blog_id = /^\d+$/.test(state.blog_id) ? Number(state.blog_id) : state.blog_id;
    // A blog link filters by the exact title (rows carry no blog id): blogs that share a title are counted together.
    const leaves = [];
    if (state.blog_title) leaves.push({ eq: { field: "blog_title", value: state.blog_title } });
    if (state.title) leaves.push({ contains: { field: "blog_title", value: state.title } });
    if (leaves.length) b.filters = leaves.length === 1 ? leaves[0] : { and: leaves };
    return b;
  }

  async function send(path, reqBody, accept) {
    const headers = { "Content-Type": "application/json", Accept: accept || "application/json" };
    const sent = token();
    if (sent) headers.Authorization = "Bearer " + sent;
    const res = await fetch(API + path + "/", { method: "POST", headers: headers, body: JSON.stringify(reqBody) });
    return { res: res, sent: sent };
  }

  // After a 401: true when there is a newer access token to retry with. Another request may have got one
  // already; else one refresh serves every request that met the expired token.
  function renewed(sent) {
    if (token() && token() !== sent) return Promise.resolve(true);
    if (!refreshing) refreshing = refresh().finally(() => { refreshing = null; });
    return refreshing;
  }

  async function api(path, reqBody, accept) {
    let { res, sent } = await send(path, reqBody, accept);
    if (res.status === 401 && (await renewed(sent))) res = (await send(path, reqBody, accept)).res;
    if (res.status === 401) { showSignIn(); throw new Error("Please sign in."); }
    if (!res.ok) {
      let message = "Request failed (" + res.status + ")";
      try { message = (await res.json()).message || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return accept === "text/csv" ? res.blob() : res.json();
  }

  async function refresh() {
    const r = sessionStorage.getItem("ideeza.refresh");
    if (!r) return false;
    const res = await fetch(body.dataset.refreshUrl, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: r }) });
    if (!res.ok) { sessionStorage.removeItem("ideeza.access"); sessionStorage.removeItem("ideeza.refresh"); return false; }
    const data = await res.json();
    sessionStorage.setItem("ideeza.access", data.access);
    if (data.refresh) sessionStorage.setItem("ideeza.refresh", data.refresh);  // when refresh tokens rotate
    return true;
  }

  function showSignIn() {
    document.getElementById("signin").hidden = false;
    document.getElementById("main").hidden = true;
    document.getElementById("signout").hidden = true;
  }

  function fmt(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"); }

  function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }

  // A placeholder of one line of text; CSS draws it (no inline style: the page's CSP forbids it).
  function skeleton(cls) { const s = el("span", undefined, cls ? "sk " + cls : "sk"); s.setAttribute("aria-hidden", "true"); return s; }

  function skeletonRow(list) {
    if (list.tagName === "TBODY") {
      const tr = el("tr", undefined, "sk-row");
      tr.append(el("td"), el("td", undefined, "r"), el("td", undefined, "r"));
      Array.from(tr.cells).forEach((td) => td.append(skeleton()));
      return tr;
    }
    const li = el("li", undefined, "sk-row");
    li.append(skeleton(), skeleton(), skeleton());
    return li;
  }

  // While a load is under way every number is a placeholder of its final height, and a table keeps as many
  // rows as it shows now (before the first answer, the template's: top/*'s default limit), so nothing jumps.
  function showLoading(comparing) {
    document.querySelectorAll("[data-total]").forEach((e) => e.replaceChildren(skeleton()));
    document.querySelectorAll("[data-delta]").forEach((e) => { e.className = "delta"; e.replaceChildren(comparing ? skeleton("short") : "\u00a0"); });
    document.querySelectorAll("[data-table] tbody, [data-table] .bars").forEach((list) => {
      list.replaceChildren(...Array.from({ length: list.children.length || 1 }, () => skeletonRow(list)));
    });
    document.querySelectorAll("[data-table]").forEach((s) => s.setAttribute("aria-busy", "true"));
  }

  function loaded() { document.querySelectorAll("[data-table]").forEach((s) => s.removeAttribute("aria-busy")); }

  function filterLink(label, field, value) {
    const a = el("a", label);
    const params = new URLSearchParams(location.search); params.set(field, value);
    a.href = "?" + params.toString();
    a.dataset.filter = field;
    return a;
  }

  function renderTotals(t) {
    ["views", "blogs", "authors", "countries"].forEach((k) => {
      document.querySelector('[data-total="' + k + '"]').textContent = fmt(t[k]);
      const d = document.querySelector('[data-delta="' + k + '"]');
      d.className = "delta";
      if (t.previous) {
        const prev = t.previous[k];
        const change = prev ? Math.round(((t[k] - prev) / prev) * 1000) / 10 : null;
        d.textContent = (change === null ? "—" : (change > 0 ? "+" : "") + change + "%") + " vs " + fmt(prev);
        if (change > 0) d.classList.add("up"); else if (change < 0) d.classList.add("down");
      } else d.textContent = "\u00a0";
    });
  }

  const NO_VIEWS = "No views in this window.";

  function renderTable(path, rows, linkField, emptyText) {
    const tbody = document.querySelector('[data-table="' + path + '"] tbody');
    tbody.replaceChildren();
    if (!rows.length) { const tr = el("tr"); const td = el("td", emptyText || NO_VIEWS, "empty"); td.colSpan = 3; tr.append(td); tbody.append(tr); return; }
    rows.forEach((r) => {
      const tr = el("tr");
      const first = el("td");
      first.title = r.x;  // long titles are cut to one line (every row has the placeholders' height)
      first.append(r.x === "" ? el("em", "(no title)") : filterLink(r.x, linkField, r.x));
      tr.append(first, el("td", fmt(r.y), "r"), el("td", fmt(r.z), "r"));
      tbody.append(tr);
    });
  }

  function renderBars(rows, emptyText) {
    const ul = document.querySelector('[data-table="blog-views/country"] .bars');
    ul.replaceChildren();
    if (!rows.length) { ul.append(el("li", emptyText || NO_VIEWS, "empty")); return; }
    const max = Math.max.apply(null, rows.map((r) => r.z));
    rows.forEach((r) => {
      const li = el("li");
      const bar = el("div", undefined, "bar");
      bar.style.width = (100 * r.z / max) + "%";  // CSSOM, allowed by style-src 'self'
      bar.setAttribute("role", "img"); bar.setAttribute("aria-label", r.x + ": " + r.z + " views");
      li.append(filterLink(r.x, "country_codes", r.x), bar, el("span", fmt(r.z), "n"));
      ul.append(li);
    });
  }

  function renderChart(rows) {
    const box = document.getElementById("chart");
    box.classList.remove("skeleton");
    if (chart) { chart.destroy(); chart = null; }
    box.replaceChildren();
    document.getElementById("chart-empty").hidden = rows.length > 0;
    if (!rows.length) return;
    const xs = rows.map((r) => Date.parse(r.x.slice(0, 10) + "T00:00:00Z") / 1000);
    const series = [{}, { label: "Views", stroke: "#3d5afe", width: 2, fill: "rgba(61,90,254,0.08)" }];
    const data = [xs, rows.map((r) => r.y)];
    if (rows.some((r) => "previous" in r)) {
      series.push({ label: "Comparison", stroke: "#ff8f00", width: 2, dash: [6, 4] });
      data.push(rows.map((r) => (r.previous ? r.previous.y : null)));
    }
    chart = new uPlot({ width: box.clientWidth || 600, height: (box.clientHeight || 320) - 50, series: series, scales: { x: { time: true } } }, data, box);
    box.dataset.points = String(rows.length);
  }

  function ready() {
    if (!window.__dashboardReady) window.__dashboardReady = performance.now();
    body.dataset.ready = "true";
  }

  async function load() {
    const state = stateFromUrl();
    FIELDS.forEach((f) => { form.elements[f].value = state[f] || ""; });
    const b = requestBody(state);
    const perf = Object.assign({}, b); if (state.compare) perf.compare = state.compare;
    errorBox.hidden = true;
    body.dataset.ready = "false";
    showLoading(Boolean(state.compare_to));
    const seq = ++loads;
    try {
      const [totals, performanceRows, topBlogs, topUsers, topCountries, byCountry] = await Promise.all([
        api("totals", b), api("performance", perf), api("top/blog", b), api("top/user", b), api("top/country", b), api("blog-views/country", b),
      ]);
      if (seq !== loads) return;
      renderTotals(totals);
      renderChart(performanceRows);
      // top/blog rows carry a title, not an id (titles may repeat): a blog link filters by that exact title.
      renderTable("top/blog", topBlogs, "blog_title");
      renderTable("top/user", topUsers, "author_username");
      renderTable("top/country", topCountries, "country_codes");
      renderBars(byCountry);
      loaded();
      ready();
      body.dataset.loaded = String(seq);
    } catch (e) {
      if (seq !== loads) return;
      renderTotals({});
      ["top/blog", "top/user", "top/country"].forEach((path) => renderTable(path, [], "", "Not available."));
      renderBars([], "Not available.");
      loaded();
      body.dataset.loaded = String(seq);
      errorBox.textContent = e.message;
      errorBox.hidden = false;
      body.dataset.ready = "error";
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams();
    // An exact title is kept as it is, spaces included; the other fields are trimmed.
    FIELDS.forEach((f) => { const v = f === "blog_title" ? form.elements[f].value : form.elements[f].value.trim(); if (v) params.set(f, v); });
    history.pushState(null, "", "?" + params.toString());
    load();
  });
  document.getElementById("reset").addEventListener("click", () => { history.pushState(null, "", location.pathname); load(); });
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-filter]");
    if (!a) return;
    ev.preventDefault();
    history.pushState(null, "", a.getAttribute("href"));
    load();
  });
  window.addEventListener("popstate", load);

  document.querySelectorAll("button[data-csv]").forEach((btn) => btn.addEventListener("click", async () => {
    try {
      const blob = await api(btn.dataset.csv, requestBody(stateFromUrl()), "text/csv");
      const a = el("a"); a.href = URL.createObjectURL(blob); a.download = btn.dataset.csv.replace("/", "-") + ".csv";
      document.body.append(a); a.click(); a.remove();
    } catch (e) { errorBox.textContent = e.message; errorBox.hidden = false; }
  }));

  document.getElementById("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const res = await fetch(body.dataset.tokenUrl, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: f.elements.username.value, password: f.elements.password.value }) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { document.getElementById("signin-error").textContent = data.message || "Sign-in failed."; return; }
    sessionStorage.setItem("ideeza.access", data.access);
    sessionStorage.setItem("ideeza.refresh", data.refresh);
    document.getElementById("signin").hidden = true;
    document.getElementById("main").hidden = false;
    document.getElementById("signout").hidden = false;
    load();
  });
  document.getElementById("signout").addEventListener("click", () => {
    sessionStorage.removeItem("ideeza.access"); sessionStorage.removeItem("ideeza.refresh"); showSignIn();
  });

  if (body.dataset.apiOpen === "false" && !token()) showSignIn();
  else { if (token()) document.getElementById("signout").hidden = false; load(); }
})();

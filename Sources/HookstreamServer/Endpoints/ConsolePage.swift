/// The page `GET /console` serves: self-contained HTML, CSS and JavaScript, nothing loaded from elsewhere.
///
/// It reads `/events` with `fetch` and parses the stream itself, so that it can send the token as a header, show
/// every event type (an `EventSource` only reports the types it was told to listen for), heartbeats and `retry:`,
/// and reconnect visibly with `Last-Event-ID`, as browsers do.
enum ConsolePage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>hookstream console</title>
        <style>
          body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
          header { padding: 12px 16px; background: #1b1f24; color: #fff; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
          header h1 { font-size: 16px; margin: 0 12px 0 0; }
          label { display: flex; gap: 6px; align-items: center; }
          input { font: inherit; padding: 4px 6px; border-radius: 4px; border: 1px solid #888; }
          #topics { width: 22em; } #token { width: 18em; }
          button { font: inherit; padding: 4px 12px; border-radius: 4px; border: 0; cursor: pointer; }
          #state { padding: 2px 8px; border-radius: 10px; background: #666; }
          #state.open { background: #1a7f37; } #state.connecting { background: #9a6700; } #state.closed { background: #cf222e; }
          main { padding: 12px 16px; }
          table { border-collapse: collapse; width: 100%; background: #fff; }
          th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e5e8; vertical-align: top; }
          td.data { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
          tr.note td { color: #57606a; font-style: italic; }
          #meta { color: #57606a; margin: 0 0 8px; }
        </style>
        </head>
        <body>
        <header>
          <h1>hookstream console</h1>
          <label>topics <input id="topics" value="demo/**" placeholder="deploys/*, users/42/**"></label>
          <label>token <input id="token" type="password" placeholder="empty: use the cookie" autocomplete="off"></label>
          <button id="connect">Connect</button><button id="disconnect">Disconnect</button>
          <span id="state">idle</span>
        </header>
        <main>
          <p id="meta">Last-Event-ID: <span id="last">none</span> · heartbeats: <span id="beats">0</span> · reconnects: <span id="reconnects">0</span></p>
          <table><thead><tr><th>id</th><th>event</th><th>received</th><th>data</th></tr></thead><tbody id="events"></tbody></table>
        </main>
        <script>
        "use strict";
        const $ = id => document.getElementById(id);
        let controller = null, lastId = null, retry = 3000, beats = 0, reconnects = 0, wanted = false;

        function state(text, kind) { $("state").textContent = text; $("state").className = kind; }
        function note(text) { row([ "", "", new Date().toLocaleTimeString(), text ], "note"); }
        function row(cells, kind) {
          const tr = document.createElement("tr");
          if (kind) tr.className = kind;
          cells.forEach((text, i) => { const td = document.createElement("td"); td.textContent = text; if (i === 3) td.className = "data"; tr.appendChild(td); });
          $("events").prepend(tr);
          while ($("events").rows.length > 500) $("events").deleteRow(-1);
        }
        function pretty(data) { try { return JSON.stringify(JSON.parse(data), null, 2); } catch { return data; } }

        function dispatch(block) {
          let event = "message", data = [], id = null, hasData = false;
          for (const line of block.split(/\r\n|\r|\n/)) {
            if (line === "") continue;
            if (line.startsWith(":")) { if (line.includes("heartbeat")) $("beats").textContent = ++beats; continue; }
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") event = value;
            else if (field === "data") { data.push(value); hasData = true; }
            else if (field === "id") id = value;
            else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
          }
          if (id !== null) { lastId = id; $("last").textContent = id; }
          if (hasData) row([id ?? "", event, new Date().toLocaleTimeString(), pretty(data.join("\n"))], event.startsWith("hookstream.") ? "note" : "");
        }

        async function connect() {
          const topics = $("topics").value.split(/[\s,]+/).filter(Boolean);
          const token = $("token").value.trim();
          const query = topics.map(t => "topic=" + encodeURIComponent(t)).join("&");
          const headers = { "Accept": "text/event-stream" };
          if (token) headers["Authorization"] = "Bearer " + token;
          if (lastId !== null) headers["Last-Event-ID"] = lastId;
          // A connection is current while its controller is: one that Connect (clicked again) replaced ends quietly,
          // without a reconnect of its own.
          const mine = new AbortController();
          controller = mine;
          state("connecting", "connecting");
          try {
            const response = await fetch("/events?" + query, { headers, credentials: "include", cache: "no-store", signal: mine.signal });
            if (controller !== mine) return;
            if (!response.ok) {
              const body = await response.text();
              state("refused " + response.status, "closed");
              note("refused: " + response.status + " " + body.trim());
              wanted = false;
              return;
            }
            state("open", "open");
            note("stream open" + (lastId !== null ? " (resumed after id " + lastId + ")" : ""));
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            let buffer = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffer += value;
              let end;
              while ((end = buffer.search(/\r\n\r\n|\n\n|\r\r/)) >= 0) {
                dispatch(buffer.slice(0, end));
                buffer = buffer.slice(end).replace(/^(\r\n\r\n|\n\n|\r\r)/, "");
              }
            }
            note("stream ended by the server");
          } catch (error) {
            if (!wanted || controller !== mine) return;
            note("connection lost: " + error.message);
          }
          if (controller !== mine) return;
          if (wanted) {
            state("reconnecting in " + retry + " ms", "connecting");
            $("reconnects").textContent = ++reconnects;
            setTimeout(() => { if (wanted && controller === mine) connect(); }, retry);
          } else {
            state("closed", "closed");
          }
        }

        $("connect").onclick = () => { if (controller) controller.abort(); wanted = true; connect(); };
        $("disconnect").onclick = () => { wanted = false; if (controller) controller.abort(); state("closed", "closed"); note("disconnected"); };
        const params = new URLSearchParams(location.search);
        if (params.get("topics")) $("topics").value = params.get("topics");
        if (params.has("connect")) { wanted = true; connect(); }
        </script>
        </body>
        </html>
        """#
}

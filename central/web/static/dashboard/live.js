// Live figures: MQTT over WebSockets when the broker is configured and reachable, else the
// HTTP stream (/live/public or /live/ops, server-sent events read with fetch so that the
// operations view can send its token). Both deliver the same payloads to the same handlers;
// both reconnect on their own; the page shows which one is live.
const SSE_RETRY_MIN_MS = 500, SSE_RETRY_MAX_MS = 5000;
const BRIDGE_STATE = /\/bridge\/([^/]+)\/state$/;

export class Live {
  // cfg: /dashboard/api/config; handlers: {summary(payload), alert(event), state(name),
  // connected(kind), bridge(name, up)} (bridge: MQTT only; central does not store link states)
  constructor(cfg, headers, handlers) {
    this.cfg = cfg;
    this.headers = headers;
    this.h = handlers;
    this.mqttUp = false;
    this.sse = null; // AbortController of the running stream
    this.sseUp = false;
    this.fallbackTimer = null;
  }

  start() {
    if (this.cfg.mqtt) {
      this.startMqtt();
      this.armFallback();
    } else {
      this.startSse();
    }
    this.report();
  }

  report() {
    this.h.state(this.mqttUp ? "mqtt" : this.sseUp ? "http" : this.sse ? "connecting" : "down");
  }

  armFallback() {
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(() => { if (!this.mqttUp) this.startSse(); },
      1000 * this.cfg.fallback_after_s);
  }

  async startMqtt() {
    if (!window.mqtt) {
      try {
        await loadScript("/dashboard/static/vendor/mqtt/mqtt.min.js");
      } catch {
        this.startSse();
        return;
      }
    }
    const m = this.cfg.mqtt;
    const prefix = this.cfg.topic_prefix;
    const topics = [`${prefix}/summary/city`, `${prefix}/summary/kecamatan/+`, `${prefix}/summary/kelurahan/+`];
    // The operations view also reads each site bridge's link state (retained "1"/"0", published
    // by the site broker's bridge notifications): a WAN cut is not an agent outage.
    if (this.cfg.view === "ops") topics.push(`${prefix}/alerts`, `${prefix}/bridge/+/state`);
    const client = window.mqtt.connect(m.url, {
      username: m.username || undefined, password: m.password || undefined,
      clientId: `siaga-dash-${Math.random().toString(16).slice(2, 10)}`,
      clean: true, reconnectPeriod: 1000, connectTimeout: 4000, keepalive: 30,
      protocolVersion: 4, resubscribe: true,
    });
    this.client = client;
    client.on("connect", () => {
      client.subscribe(topics, { qos: 1 }, (err) => { if (err) console.warn("subscribe", err.message); });
      this.mqttUp = true;
      clearTimeout(this.fallbackTimer);
      this.stopSse();
      this.report();
      this.h.connected("mqtt");
    });
    const down = () => {
      if (!this.mqttUp) return;
      this.mqttUp = false;
      this.armFallback();
      this.report();
    };
    client.on("close", down);
    client.on("offline", down);
    client.on("error", () => {}); // reconnects by itself; the state shows it
    client.on("message", (topic, payload) => {
      if (!payload || payload.length === 0) return; // a retained topic cleared
      const text = new TextDecoder().decode(payload);
      const link = topic.match(BRIDGE_STATE);
      if (link && topic.startsWith(`${prefix}/`)) { this.h.bridge?.(link[1], text.trim() === "1"); return; }
      let msg;
      try { msg = JSON.parse(text); } catch { return; }
      if (topic === `${prefix}/alerts`) this.h.alert(msg); else this.h.summary(msg);
    });
  }

  async startSse() {
    if (this.sse || this.mqttUp) return;
    const ctrl = new AbortController();
    this.sse = ctrl;
    this.report();
    let wait = SSE_RETRY_MIN_MS;
    while (this.sse === ctrl) {
      try {
        const r = await fetch(this.cfg.live, { headers: this.headers, signal: ctrl.signal, cache: "no-store" });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        this.sseUp = true;
        this.report();
        this.h.connected("http");
        wait = SSE_RETRY_MIN_MS;
        await this.readEvents(r.body.getReader());
      } catch (e) {
        if (ctrl.signal.aborted) break;
      }
      this.sseUp = false;
      this.report();
      if (this.sse !== ctrl) break;
      await new Promise((ok) => setTimeout(ok, wait));
      wait = Math.min(SSE_RETRY_MAX_MS, wait * 2);
    }
  }

  async readEvents(reader) {
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (!data) continue;
        const msg = JSON.parse(data);
        if (event === "summary") this.h.summary(msg);
        else if (event === "alert") this.h.alert(msg);
      }
    }
  }

  stopSse() {
    if (!this.sse) return;
    const ctrl = this.sse;
    this.sse = null;
    this.sseUp = false;
    ctrl.abort();
  }
}

function loadScript(src) {
  return new Promise((ok, fail) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = ok;
    s.onerror = () => fail(new Error(`cannot load ${src}`));
    document.head.appendChild(s);
  });
}

// A small MQTT 3.1.1 client over the browser's WebSocket, for the
// dashboard's publish/subscribe pane. It speaks CONNECT, SUBSCRIBE,
// UNSUBSCRIBE, PUBLISH at QoS 0 and 1 (receiving QoS 0, 1 and 2),
// PINGREQ and DISCONNECT; nothing is persisted across connections.

const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6,
  PUBCOMP = 7, SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11,
  PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;

const CONNACK_ERRORS = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

// The largest packet we accept from the broker (the remaining length's
// limit is 256 MiB; a browser tab has no use for that much).
const MAX_PACKET = 16 << 20;

const encoder = new TextEncoder();

function utf8(s) {
  const b = encoder.encode(s);
  if (b.length > 0xffff) throw new Error("string longer than 65535 bytes");
  return b;
}

// Builds a packet from its first byte and a list of Uint8Arrays and
// numbers (a number is a two-byte big-endian integer).
function packet(first, parts) {
  let len = 0;
  for (const p of parts) len += typeof p === "number" ? 2 : p.length;
  if (len > 268435455) throw new Error("packet too large");
  const head = [first];
  let n = len;
  do { // the remaining length: 7 bits a byte, the high bit says more follow
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    head.push(digit);
  } while (n > 0);
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let at = head.length;
  for (const p of parts) {
    if (typeof p === "number") {
      out[at++] = p >> 8;
      out[at++] = p & 0xff;
    } else {
      out.set(p, at);
      at += p.length;
    }
  }
  return out;
}

// A string as MQTT sends it: a two-byte length, then UTF-8.
function str(s) {
  const b = utf8(s);
  const out = new Uint8Array(b.length + 2);
  out[0] = b.length >> 8;
  out[1] = b.length & 0xff;
  out.set(b, 2);
  return out;
}

// Reader splits the WebSocket's byte stream into packets: one frame may
// carry several packets, or part of one.
export class Reader {
  constructor() {
    this.buf = new Uint8Array(0);
  }

  // push adds bytes and returns the packets now complete, each
  // {type, flags, body}; it throws on a malformed length.
  push(bytes) {
    if (this.buf.length === 0) {
      this.buf = bytes;
    } else {
      const joined = new Uint8Array(this.buf.length + bytes.length);
      joined.set(this.buf, 0);
      joined.set(bytes, this.buf.length);
      this.buf = joined;
    }
    const out = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = 0, mult = 1, i = 1, done = false;
      for (; i < b.length && i <= 4; i++) {
        len += (b[i] & 0x7f) * mult;
        mult *= 128;
        if ((b[i] & 0x80) === 0) { done = true; break; }
      }
      if (!done) {
        if (i > 4) throw new Error("malformed remaining length");
        break; // the length itself is not all here yet
      }
      if (len > MAX_PACKET) throw new Error("packet of " + len + " bytes is too large");
      const start = i + 1;
      if (b.length < start + len) break;
      out.push({ type: b[0] >> 4, flags: b[0] & 0x0f, body: b.subarray(start, start + len) });
      this.buf = b.subarray(start + len);
    }
    if (this.buf.length === 0) this.buf = new Uint8Array(0);
    return out;
  }
}

// parsePublish decodes a PUBLISH body.
export function parsePublish(flags, body) {
  const qos = (flags >> 1) & 3;
  if (qos === 3) throw new Error("PUBLISH with QoS 3");
  if (body.length < 2) throw new Error("short PUBLISH");
  const tlen = (body[0] << 8) | body[1];
  let at = 2 + tlen;
  if (body.length < at) throw new Error("short PUBLISH topic");
  const topic = new TextDecoder("utf-8", { fatal: true }).decode(body.subarray(2, at));
  let id = 0;
  if (qos > 0) {
    if (body.length < at + 2) throw new Error("PUBLISH without a packet id");
    id = (body[at] << 8) | body[at + 1];
    at += 2;
  }
  return { topic, payload: body.slice(at), qos, retain: (flags & 1) === 1, dup: (flags & 8) === 8, id };
}

// Client is one MQTT connection. Set onmessage(msg) to receive messages
// ({topic, payload: Uint8Array, qos, retain, dup}) and onclose(reason) to
// learn when the connection ends.
export class Client {
  constructor() {
    this.ws = null;
    this.reader = new Reader();
    this.nextId = 1;
    this.pending = new Map(); // packet id -> {resolve, reject} for SUBACK, UNSUBACK, PUBACK
    this.qos2 = new Set(); // ids of QoS 2 messages received, until PUBREL
    this.timer = 0;
    this.lastReceived = 0;
    this.closed = false;
    this.onmessage = () => {};
    this.onclose = () => {};
  }

  // connect opens url and sends CONNECT; it resolves on a successful
  // CONNACK and rejects on a refusal or a failed connection.
  connect(url, { clientId = "", username = "", password = "", keepAlive = 30, clean = true } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["mqtt"]);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      this.connackWaiter = { resolve, reject };
      ws.onopen = () => {
        let flags = clean ? 0x02 : 0;
        const parts = [str("MQTT"), new Uint8Array([4]), null, keepAlive, str(clientId)];
        if (username !== "") {
          flags |= 0x80;
          parts.push(str(username));
        }
        if (password !== "") {
          if (username === "") {
            // [MQTT-3.1.2-22]: a password needs a user name.
            flags |= 0x80;
            parts.push(str(""));
          }
          flags |= 0x40;
          parts.push(str(password));
        }
        parts[2] = new Uint8Array([flags]);
        this.send(packet(CONNECT << 4, parts));
        this.keepAlive(keepAlive);
      };
      ws.onmessage = (ev) => this.received(new Uint8Array(ev.data));
      ws.onerror = () => {}; // onclose follows with the details
      ws.onclose = (ev) => {
        const why = ev.reason || (ev.code === 1000 ? "closed" : "connection lost (code " + ev.code + ")");
        this.shutdown(this.connackWaiter ? "could not connect: " + why : why);
      };
    });
  }

  keepAlive(seconds) {
    if (seconds <= 0) return;
    this.lastReceived = Date.now();
    // Ping at half the keep alive; give up when the broker has said
    // nothing for one and a half keep alives [MQTT-3.1.2-24].
    this.timer = setInterval(() => {
      if (Date.now() - this.lastReceived > seconds * 1500) {
        this.close("no answer from the broker within the keep alive");
        return;
      }
      this.send(packet(PINGREQ << 4, []));
    }, seconds * 500);
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  received(bytes) {
    this.lastReceived = Date.now();
    let packets;
    try {
      packets = this.reader.push(bytes);
    } catch (e) {
      this.close(e.message);
      return;
    }
    for (const p of packets) {
      try {
        this.handle(p);
      } catch (e) {
        this.close("bad packet from the broker: " + e.message);
        return;
      }
    }
  }

  handle({ type, flags, body }) {
    const id = body.length >= 2 ? (body[0] << 8) | body[1] : 0;
    switch (type) {
      case CONNACK: {
        if (body.length < 2) throw new Error("short CONNACK");
        const w = this.connackWaiter;
        this.connackWaiter = null;
        if (!w) throw new Error("second CONNACK");
        if (body[1] !== 0) {
          const why = "refused: " + (CONNACK_ERRORS[body[1]] || "return code " + body[1]);
          w.reject(new Error(why));
          this.close(why);
          return;
        }
        w.resolve();
        return;
      }
      case PUBLISH: {
        const m = parsePublish(flags, body);
        if (m.qos === 1) {
          this.send(packet(PUBACK << 4, [m.id]));
        } else if (m.qos === 2) {
          this.send(packet(PUBREC << 4, [m.id]));
          // Deliver once: a resent PUBLISH before PUBREL is a duplicate.
          if (this.qos2.has(m.id)) return;
          this.qos2.add(m.id);
        }
        this.onmessage({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: m.dup });
        return;
      }
      case PUBREL:
        this.qos2.delete(id);
        this.send(packet((PUBCOMP << 4), [id]));
        return;
      case PUBACK:
      case UNSUBACK:
        this.settle(id, undefined);
        return;
      case SUBACK:
        this.settle(id, Array.from(body.subarray(2)));
        return;
      case PUBREC: // we never publish at QoS 2, but answer as the spec says
        this.send(packet((PUBREL << 4) | 2, [id]));
        return;
      case PUBCOMP:
      case PINGRESP:
        return;
      default:
        throw new Error("unexpected packet type " + type);
    }
  }

  settle(id, value) {
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      p.resolve(value);
    }
  }

  // request sends a packet that the broker acknowledges by packet id.
  request(build) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.connackWaiter) {
      return Promise.reject(new Error("not connected"));
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = id % 65535 + 1;
    this.nextId = id % 65535 + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(build(id));
    });
  }

  // subscribe resolves with the granted QoS (0, 1, 2) or 128 for a refusal.
  async subscribe(filter, qos = 0) {
    const codes = await this.request((id) => packet((SUBSCRIBE << 4) | 2, [id, str(filter), new Uint8Array([qos])]));
    return codes[0];
  }

  unsubscribe(filter) {
    return this.request((id) => packet((UNSUBSCRIBE << 4) | 2, [id, str(filter)]));
  }

  // publish sends payload (a string or Uint8Array); at QoS 1 it resolves
  // on PUBACK.
  publish(topic, payload, { qos = 0, retain = false } = {}) {
    const body = typeof payload === "string" ? encoder.encode(payload) : payload;
    const first = (PUBLISH << 4) | (qos << 1) | (retain ? 1 : 0);
    if (qos === 0) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.connackWaiter) {
        return Promise.reject(new Error("not connected"));
      }
      this.send(packet(first, [str(topic), body]));
      return Promise.resolve();
    }
    if (qos !== 1) return Promise.reject(new Error("only QoS 0 and 1 are sent"));
    return this.request((id) => packet(first, [str(topic), id, body]));
  }

  // close sends DISCONNECT and closes the socket.
  close(reason = "closed") {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && !this.connackWaiter) {
      this.send(packet(DISCONNECT << 4, []));
    }
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    this.shutdown(reason);
  }

  shutdown(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
    if (this.connackWaiter) {
      const w = this.connackWaiter;
      this.connackWaiter = null;
      w.reject(new Error(reason));
    }
    this.onclose(reason);
  }
}

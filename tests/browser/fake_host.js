// A stand-in for anywidget's front end, narrow on purpose: the model proxy API only
// (get/set/on/off/save_changes/send), the ESM imported from a Blob URL as anywidget does,
// the CSS injected as one <style>, and initialize/render called with {model, el, signal}.
// Tests read window.__awHost.takeSaved()/takeSent() and push "Python" updates with push().
window.__awMount = async (esm, css, state, paths, b64) => {
  const decode = (s) => {
    const bin = atob(s);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return new DataView(u.buffer);
  };
  const put = (obj, bufPaths, bufs) => {
    bufPaths.forEach((p, i) => {
      let o = obj;
      for (const k of p.slice(0, -1)) o = o[k];
      o[p[p.length - 1]] = decode(bufs[i]);
    });
    return obj;
  };
  const data = put(state, paths, b64);
  const listeners = new Map();
  const emit = (ev, ...args) => [...(listeners.get(ev) || [])].forEach((cb) => cb(...args));
  const host = { saved: [], sent: [], sentBuffers: [], pending: {}, errors: [] };
  // JS -> Python buffers (ArrayBuffer or typed arrays, as model.send takes them) as base64 for the test
  const encode = (bufs) => (bufs || []).map((b) => {
    const u = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    let bin = "";
    for (let i = 0; i < u.length; i += 0x8000) bin += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
    return btoa(bin);
  });
  const model = {
    get: (k) => data[k],
    set: (k, v) => {
      data[k] = v;
      host.pending[k] = v;
      emit(`change:${k}`);
    },
    on: (ev, cb) => {
      if (!listeners.has(ev)) listeners.set(ev, new Set());
      listeners.get(ev).add(cb);
    },
    off: (ev, cb) => {
      if (!ev) listeners.clear();
      else if (!cb) listeners.delete(ev);
      else listeners.get(ev)?.delete(cb);
    },
    save_changes: () => {
      if (Object.keys(host.pending).length) host.saved.push(host.pending);
      host.pending = {};
    },
    send: (content, _callbacks, buffers) => {
      host.sent.push(content);
      host.sentBuffers.push(encode(buffers));
    },
    widget_manager: {},
  };
  host.push = (upd, bufPaths, bufs) => {
    put(upd, bufPaths, bufs);
    Object.assign(data, upd);
    for (const k of Object.keys(upd)) emit(`change:${k}`);
  };
  host.custom = (content, bufs = []) => emit("msg:custom", content, bufs.map(decode));
  host.takeSaved = () => host.saved.splice(0);
  host.takeSent = () => {
    host.sentBuffers.splice(0);
    return host.sent.splice(0);
  };
  host.takeSentWithBuffers = () => {
    const bufs = host.sentBuffers.splice(0);
    return host.sent.splice(0).map((c, i) => [c, bufs[i] || []]);
  };
  host.listenerCount = () => [...listeners.values()].reduce((n, s) => n + s.size, 0);

  const style = document.createElement("style");
  style.textContent = css;
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  URL.revokeObjectURL(url);
  let def = mod.default;
  if (typeof def === "function") def = await def();
  const ctl = new AbortController();
  const el = document.createElement("div");
  el.id = "aw-host";
  el.style.width = "960px";
  document.body.append(el);
  const cleanups = [];
  if (def.initialize) {
    const r = await def.initialize({ model, signal: ctl.signal, experimental: {} });
    if (typeof r === "function") cleanups.push(r);
  }
  const r = await def.render({ model, el, signal: ctl.signal, host: {}, experimental: {} });
  if (typeof r === "function") cleanups.push(r);
  host.unmount = async () => {
    ctl.abort();
    for (const c of cleanups) await c();
    el.remove();
  };
  window.__awHost = host;
  window.__model = model;
};

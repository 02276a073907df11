/* Relaydesk chat widget loader. Embedded by a site with one script tag; docs/widget.md.
 *
 * Until the visitor opens the chat this script makes no request, sets no cookie and touches no storage:
 * it only draws the launcher (in a closed shadow root, so the page's styles cannot reach it) and defines
 * window.Relaydesk. Opening creates the chat iframe on Relaydesk's origin; the two talk by postMessage,
 * and each side accepts messages only from the other's window and origin.
 */
(function () {
  "use strict";
  if (window.Relaydesk && window.Relaydesk.version) return;
  var BOOT = __RELAYDESK_BOOT__;
  var SIDE = BOOT.position === "left" ? "left" : "right";
  var script = document.currentScript;
  var ORIGIN = new URL(script.src).origin;
  var FRAME_URL =
    ORIGIN + "/widget/" + encodeURIComponent(BOOT.id) + "/frame?host=" + encodeURIComponent(location.origin);

  var listeners = {};
  var state = { open: false, ready: false, identity: null, attributes: {}, unread: 0 };
  var frame = null;

  function emit(name, data) {
    (listeners[name] || []).slice().forEach(function (fn) {
      try {
        fn(data);
      } catch (err) {
        setTimeout(function () {
          throw err;
        });
      }
    });
  }

  function privacy() {
    return (
      navigator.doNotTrack === "1" || window.doNotTrack === "1" || navigator.globalPrivacyControl === true
    );
  }

  // ---- launcher (no request: inline SVG, constructed stylesheet) ----------------------------------------
  var holder = document.createElement("div");
  holder.setAttribute("data-relaydesk", "");
  var root = holder.attachShadow({ mode: "closed" });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(
    ":host{all:initial}" +
      ".launcher{position:fixed;" + SIDE + ":20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
      "background:" + BOOT.accent_color + ";color:" + BOOT.accent_text_color + ";cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);" +
      "z-index:2147483000;display:flex;align-items:center;justify-content:center;padding:0}" +
      ".launcher:focus-visible{outline:3px solid #111;outline-offset:2px}" +
      ".badge{position:absolute;top:-2px;right:-2px;min-width:18px;height:18px;border-radius:9px;background:#dc2626;" +
      "color:#fff;font:600 11px/18px system-ui,sans-serif;text-align:center;padding:0 4px}" +
      ".frame{position:fixed;" + SIDE + ":20px;bottom:88px;width:370px;height:560px;max-width:calc(100vw - 40px);" +
      "max-height:calc(100vh - 108px);border:0;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);" +
      "z-index:2147483000;background:#fff}" +
      ".frame[hidden]{display:none}"
  );
  root.adoptedStyleSheets = [sheet];
  var button = document.createElement("button");
  button.className = "launcher";
  button.type = "button";
  button.setAttribute("aria-label", BOOT.open_label + ": " + BOOT.title);
  button.setAttribute("aria-expanded", "false");
  button.innerHTML =
    '<svg width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor">' +
    '<path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  button.appendChild(badge);
  button.addEventListener("click", function () {
    state.open ? api.close() : api.open();
  });
  root.appendChild(button);

  function mount() {
    (document.body || document.documentElement).appendChild(holder);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // ---- the frame ----------------------------------------------------------------------------------------
  function post(message) {
    if (frame && state.ready) frame.contentWindow.postMessage(message, ORIGIN);
  }

  function createFrame() {
    frame = document.createElement("iframe");
    frame.className = "frame";
    frame.title = BOOT.title;
    frame.src = FRAME_URL;
    frame.setAttribute("allow", "clipboard-write");
    root.appendChild(frame);
  }

  window.addEventListener("message", function (event) {
    // Only our own frame, from Relaydesk's origin, is listened to.
    if (!frame || event.source !== frame.contentWindow || event.origin !== ORIGIN) return;
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.rd !== "string") return;
    if (data.rd === "ready") {
      state.ready = true;
      post({ rd: "init", privacy: privacy(), identity: state.identity, attributes: state.attributes });
      emit("ready", {});
    } else if (data.rd === "close") {
      api.close();
    } else if (data.rd === "event" && typeof data.name === "string") {
      if (data.name === "message" && !state.open) {
        state.unread += 1;
        badge.textContent = String(state.unread);
        badge.hidden = false;
      }
      emit(data.name, data.data || {});
    }
  });

  var api = {
    version: 1,
    open: function () {
      if (!frame) createFrame();
      frame.hidden = false;
      state.open = true;
      state.unread = 0;
      badge.hidden = true;
      button.setAttribute("aria-expanded", "true");
      post({ rd: "focus" });
      emit("open", {});
    },
    close: function () {
      if (frame) frame.hidden = true;
      state.open = false;
      post({ rd: "blur" });
      button.setAttribute("aria-expanded", "false");
      emit("close", {});
    },
    toggle: function () {
      state.open ? api.close() : api.open();
    },
    /* identify({user_id, user_hash}) or identify({jwt}), both computed on the site's server. */
    identify: function (identity) {
      if (!identity || typeof identity !== "object") throw new TypeError("identify({user_id, user_hash}) or identify({jwt})");
      state.identity = {
        user_id: identity.user_id,
        user_hash: identity.user_hash,
        jwt: identity.jwt,
      };
      post({ rd: "identify", identity: state.identity });
    },
    /* Details the visitor's contact gets with their next message: name, email, and custom keys. */
    setAttributes: function (attributes) {
      if (!attributes || typeof attributes !== "object") throw new TypeError("setAttributes({...})");
      for (var key in attributes) if (Object.prototype.hasOwnProperty.call(attributes, key)) state.attributes[key] = attributes[key];
      post({ rd: "attributes", attributes: state.attributes });
    },
    /* On logout: forget the visitor; the next chat starts as a new anonymous visitor. */
    reset: function () {
      state.identity = null;
      state.attributes = {};
      state.unread = 0;
      badge.hidden = true;
      post({ rd: "reset" });
    },
    on: function (name, fn) {
      (listeners[name] = listeners[name] || []).push(fn);
      return api;
    },
    off: function (name, fn) {
      listeners[name] = (listeners[name] || []).filter(function (f) {
        return f !== fn;
      });
      return api;
    },
  };
  window.Relaydesk = api;
  window.dispatchEvent(new CustomEvent("relaydesk:ready"));
})();

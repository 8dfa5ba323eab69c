/* ashiato tracker: a pageview on load; then ashiato('consent', 'statistics,personalization')
   (or '' to withdraw) and ashiato('event', 'name'). Calls made before this loads wait in
   ashiato.q. No dependencies, no storage of its own, and it never throws into the page. */
(function (w, d, n) {
  try {
    var el = d.currentScript || d.querySelector('script[data-site]'),
      o = new URL(el.src).origin,
      site = el.getAttribute('data-site'),
      c = el.getAttribute('data-consent'), // null until told: "c" is then left out
      q = (w.ashiato && w.ashiato.q) || [],
      // GPC or DNT: nothing identifying leaves the page (no consent, language or screen, no
      // cookie) and the consent endpoint is never called, whatever the page's consent manager says.
      off = n.globalPrivacyControl === true || n.doNotTrack === '1' || w.doNotTrack === '1',
      i;

    var pixel = function (m) {
      var p = [], k;
      for (k in m) p.push(k + '=' + encodeURIComponent(m[k]));
      new Image().src = o + '/b.gif?' + p.join('&');
    };

    var send = function (e) {
      var m = { s: site, u: location.href, r: d.referrer, e: e }, b;
      if (!off) {
        if (c != null) m.c = c;
        m.l = n.language;
        m.sw = screen.width;
        m.sh = screen.height;
      }
      b = JSON.stringify(m);
      if (off) {
        // sendBeacon always sends cookies, so fetch with credentials omitted instead; no-cors
        // because the answer is not read, so a missing CORS header cannot make it fail (and
        // count twice through the pixel). The pixel, the fallback, sends cookies only if the
        // visitor already has some: acceptable, the server ignores them under GPC/DNT.
        if (w.fetch)
          return fetch(o + '/b', {
            method: 'POST', body: b, mode: 'no-cors', credentials: 'omit', keepalive: true,
            headers: { 'content-type': 'text/plain' }
          })['catch'](function () { pixel(m); });
      } else if (n.sendBeacon && n.sendBeacon(o + '/b', new Blob([b], { type: 'text/plain' })))
        return;
      pixel(m);
    };

    var consent = function (v) {
      c = v ? '' + v : '';
      // text/plain keeps it a simple request (no preflight); the answer sets or clears cookies.
      if (!off && w.fetch)
        fetch(o + '/consent', {
          method: 'POST', body: JSON.stringify({ c: c, s: site }), mode: 'no-cors',
          credentials: 'include', keepalive: true, headers: { 'content-type': 'text/plain' }
        })['catch'](function () {});
    };

    var api = function (cmd, arg) {
      try {
        if (cmd == 'consent') consent(arg);
        else if (cmd == 'event' && arg) send('' + arg);
      } catch (x) {}
    };

    // Queued consent first, so the pageview already carries it; queued events after.
    for (i = 0; i < q.length; i++) if (q[i][0] == 'consent') api.apply(0, q[i]);
    send('pageview');
    for (i = 0; i < q.length; i++) if (q[i][0] != 'consent') api.apply(0, q[i]);
    w.ashiato = api;
  } catch (x) {}
})(window, document, navigator);

/* ashiato tracker: a pageview on load; then ashiato('consent', 'statistics,personalization')
   (or '' to withdraw) and ashiato('event', 'name'). Calls made before this loads wait in
   ashiato.q. No dependencies, no storage of its own, and it never throws into the page.
   Consent sent with each hit, first found first: the visitor's answer to the site's own banner
   (ashiato('consent')), the TCF consent manager's TC string (__tcfapi), Google Consent Mode's
   state (the 'consent' commands in dataLayer), the script's data-consent. The collector maps
   the frameworks' answers onto its purposes. */
(function (w, d, n) {
  try {
    var el = d.currentScript || d.querySelector('script[data-site]'),
      o = new URL(el.src).origin,
      site = el.getAttribute('data-site'),
      dc = el.getAttribute('data-consent'), // null when absent: "c" is then left out
      c = null, // the visitor's answer to the site's own banner, once told
      tc = null, // the TC string, while TCF applies and the visitor has answered
      held = 0, // hits waiting for the TCF consent manager's first answer
      q = (w.ashiato && w.ashiato.q) || [],
      // GPC or DNT: nothing identifying leaves the page (no consent, language or screen, no
      // cookie) and the consent endpoint is never called, whatever the page's consent manager says.
      off = n.globalPrivacyControl === true || n.doNotTrack === '1' || w.doNotTrack === '1',
      TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization'],
      i;

    // Consent Mode as gtag('consent', 'default' | 'update', {...}) left it in dataLayer, as a
    // gcd value: per type a letter for (default, update), each 1 not set, 2 denied, 3 granted.
    // Defaults for some regions only are skipped: whether they apply here is not known.
    var gcd = function () {
      var l = w.dataLayer, s = [], r = '1', a, v, j, k, any;
      for (j = 0; l && j < l.length; j++) {
        a = l[j];
        if (a && a[0] == 'consent' && (a[1] == 'default' || a[1] == 'update') && a[2] &&
            !a[2].region)
          for (k = 0; k < 4; k++) {
            v = a[2][TYPES[k]];
            if (v == 'granted' || v == 'denied') {
              s[k] = s[k] || [1, 1];
              s[k][a[1] == 'update' ? 1 : 0] = v == 'granted' ? 3 : 2;
              any = 1;
            }
          }
      }
      if (!any) return;
      // The letter is base64url digit 16 + 4 * default + update: 'l' (nothing) to 'v'.
      for (k = 0; k < 4; k++) {
        a = s[k] || [1, 1];
        r += '1' + String.fromCharCode(103 + 4 * a[0] + a[1]);
      }
      return r + '1';
    };

    var pixel = function (m) {
      var p = [], k;
      for (k in m) p.push(k + '=' + encodeURIComponent(m[k]));
      new Image().src = o + '/b.gif?' + p.join('&');
    };

    var send = function (e) {
      if (held) return held.push(e);
      var m = { s: site, u: location.href, r: d.referrer, e: e }, b, g;
      if (!off) {
        if (c != null) m.c = c;
        else if (tc) m.gdpr = '1', m.gdpr_consent = tc;
        else if ((g = gcd())) m.gcd = g;
        else if (dc != null) m.c = dc;
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

    // TCF: hits wait for the consent manager's answer (a returning visitor's stored one, or the
    // banner's), for at most 10 s or until the page is left, then go with what is known.
    var flush = function () {
      var h = held, j;
      held = 0;
      try {
        for (j = 0; h && j < h.length; j++) send(h[j]);
      } catch (x) {}
    };
    if (!off && typeof w.__tcfapi == 'function') {
      held = [];
      setTimeout(flush, 10000);
      w.addEventListener('pagehide', flush);
      w.__tcfapi('addEventListener', 2, function (t, ok) {
        // 'cmpuishown': the banner is up and the visitor has not answered yet.
        if (ok && t && t.eventStatus != 'cmpuishown') {
          tc = (t.gdprApplies && t.tcString) || null;
          flush();
        }
      });
    }

    // Queued consent first, so the pageview already carries it; queued events after.
    for (i = 0; i < q.length; i++) if (q[i][0] == 'consent') api.apply(0, q[i]);
    send('pageview');
    for (i = 0; i < q.length; i++) if (q[i][0] != 'consent') api.apply(0, q[i]);
    w.ashiato = api;
  } catch (x) {}
})(window, document, navigator);

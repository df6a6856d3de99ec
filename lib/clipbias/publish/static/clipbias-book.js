/* clipbias book: let side-by-side chart panels wrap when a chart is wider than its column.
   window.clipbiasWrap(spec, naturalWidth, available) returns a copy of the Vega-Lite spec whose
   panels (a wrapped or column facet, or an hconcat) are laid out in fewer columns, or null when the
   chart fits or cannot wrap. The offline chart snippets of clipbias.publish.offline call it. */
(function () {
  "use strict";
  function panelWidth(spec, inner) {
    if (inner && typeof inner.width === "number") { return inner.width; }
    var view = spec.config && spec.config.view;
    return (view && typeof view.continuousWidth === "number") ? view.continuousWidth : 300;
  }
  window.clipbiasWrap = function (spec, naturalWidth, available) {
    if (!(naturalWidth > available) || !(available > 0)) { return null; }
    var s = JSON.parse(JSON.stringify(spec));
    var panel, target = s;
    if (Array.isArray(s.hconcat)) {
      panel = naturalWidth / s.hconcat.length;
      s.concat = s.hconcat;
      delete s.hconcat;
    } else if (s.facet && !s.facet.row) {
      if (s.facet.column) { s.facet = s.facet.column; }
      panel = panelWidth(s, s.spec) + 20;
    } else if (s.encoding && !s.encoding.row && (s.encoding.column || s.encoding.facet)) {
      if (s.encoding.column) { s.encoding.facet = s.encoding.column; delete s.encoding.column; }
      target = s.encoding.facet;
      panel = panelWidth(s, s) + 20;
    } else {
      return null;
    }
    var columns = Math.max(1, Math.floor(available / (panel + 40)));
    if (typeof target.columns === "number" && target.columns <= columns) { return null; }
    target.columns = columns;
    return s;
  };
})();

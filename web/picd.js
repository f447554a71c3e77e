// PICD node pack: shows each PICD node's report (bytes, bits per pixel, words found, files saved) on the node.
// Namespaced "PICD.*"; touches only node types whose id starts with "PICD_". The last report is kept in the node's
// properties (picd_report), so it is still shown after a page reload; the server resends it on cached reruns.
import { app } from "../../scripts/app.js";

const REPORT_COLOR = "#8fd18f";
const LINE_HEIGHT = 14;

function wrap(ctx, text, width) {
  const lines = [];
  for (const part of String(text).split(/;\s*/)) {
    let line = "";
    for (const word of part.split(" ")) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width > width && line) {
        lines.push(line);
        line = word;
      } else {
        line = next;
      }
    }
    if (line) lines.push(line);
  }
  return lines;
}

app.registerExtension({
  name: "PICD.nodes",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData?.name?.startsWith("PICD_")) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const text = message?.text;
      this.picdReport = Array.isArray(text) ? text.join("; ") : text ?? null;
      if (this.properties) this.properties.picd_report = this.picdReport ?? undefined;
      this.setDirtyCanvas(true, true);
    };

    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function (info) {
      onConfigure?.apply(this, arguments);
      if (this.properties?.picd_report) this.picdReport = this.properties.picd_report;
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      if (!this.picdReport || this.flags?.collapsed) return;
      ctx.save();
      ctx.font = "11px monospace";
      ctx.fillStyle = REPORT_COLOR;
      const lines = wrap(ctx, this.picdReport, this.size[0] - 16).slice(0, 6);
      const top = this.size[1] + 6;
      lines.forEach((line, i) => ctx.fillText(line, 8, top + (i + 1) * LINE_HEIGHT));
      ctx.restore();
    };
  },
});

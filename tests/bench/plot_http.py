#!/usr/bin/env python3
"""Draws the HTTP serving benchmark's growth curve as an SVG (standard library only).

    tests/bench/plot_http.py RESULTS.tsv OUT.svg

RESULTS.tsv is what tests/bench/bench_http.sh writes to $RESULTS: one line per figure with
workers, figure, jobs, body bytes, imgpulld req/s, h2o req/s, req/s ratio, imgpulld and h2o CPU
µs per request, CPU ratio h2o / imgpulld, load average. Both panels use the CPU time per
request, the figure the machine's load does not move: the left panel shows it against the
number of jobs (both axes logarithmic), imgpulld solid and h2o dashed; the right panel shows
h2o's over imgpulld's (at least 0.9: imgpulld does the same work for at most 1/0.9 of h2o's CPU)
with the 0.9 target. The one-job figure (its "jobs" column is not a number) is drawn as single
points at the right edge. Two workers are drawn with thin lines.
"""
import math
import sys

W, H = 980, 420
PANEL = [(70, 40, 520, 340), (600, 40, 960, 340)]  # x0, y0, x1, y1
COLORS = {"pull-active": "#1f77b4", "pull-failed?limit=1000": "#d62728",
          "pull-active gzip": "#2ca02c", "pull-failed?limit=1000 gzip": "#9467bd",
          "one job by id": "#ff7f0e", "one job by id gzip": "#8c564b"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 10:
                rows.append((int(p[0]), p[1], p[2], int(p[3]), float(p[7]), float(p[8]), float(p[9])))
    if not rows:
        sys.exit("no rows in " + sys.argv[1])
    sizes = sorted({int(r[2]) for r in rows if r[2].isdigit()})
    xs = sizes + [sizes[-1] * 3]  # the slot of the one-job figure
    lx0, lx1 = math.log10(xs[0]) - 0.15, math.log10(xs[-1]) + 0.15
    cpu = [v for r in rows for v in (r[4], r[5])]
    ly0, ly1 = math.floor(math.log10(min(cpu))), math.ceil(math.log10(max(cpu)))
    ratios = [r[6] for r in rows]
    r0, r1 = min(0.5, min(ratios) - 0.05), max(1.3, max(ratios) + 0.05)

    def px(panel, x):
        x0, _, x1, _ = PANEL[panel]
        return x0 + (math.log10(x) - lx0) / (lx1 - lx0) * (x1 - x0)

    def py_cpu(y):
        _, y0, _, y1 = PANEL[0]
        return y1 - (math.log10(y) - ly0) / (ly1 - ly0) * (y1 - y0)

    def py_ratio(y):
        _, y0, _, y1 = PANEL[1]
        return y1 - (y - r0) / (r1 - r0) * (y1 - y0)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (W, H), '<rect width="100%" height="100%" fill="white"/>']
    for i, (x0, y0, x1, y1) in enumerate(PANEL):
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' %
                   (x0, y0, x1 - x0, y1 - y0))
        for x in xs:
            label = str(x) if x in sizes else "1 job"
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (px(i, x), y0, px(i, x), y1))
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (px(i, x), y1 + 14, label))
        out.append('<text x="%d" y="%d" text-anchor="middle">jobs in the table (log)</text>' %
                   ((x0 + x1) // 2, y1 + 30))
    for e in range(ly0, ly1 + 1):
        y = py_cpu(10 ** e)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (PANEL[0][0], y, PANEL[0][2], y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">1e%d</text>' % (PANEL[0][0] - 4, y + 4, e))
    out.append('<text x="%d" y="28">CPU µs per request (log), imgpulld solid, h2o dashed</text>' % PANEL[0][0])
    steps = 10
    for k in range(steps + 1):
        v = r0 + (r1 - r0) * k / steps
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.2f</text>' % (PANEL[1][0] - 4, py_ratio(v) + 4, v))
    y9 = py_ratio(0.9)
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" stroke-dasharray="6,3"/>' %
               (PANEL[1][0], y9, PANEL[1][2], y9))
    out.append('<text x="%d" y="%.1f" text-anchor="end">target 0.9</text>' % (PANEL[1][2] - 4, y9 - 4))
    out.append('<text x="%d" y="28">CPU per request, h2o / imgpulld, same bytes, same run</text>' % PANEL[1][0])

    legend_y = 0
    for workers in sorted({r[0] for r in rows}):
        for fig in COLORS:
            pts = [r for r in rows if r[0] == workers and r[1] == fig]
            if not pts:
                continue
            color = COLORS[fig]
            width = 2 if workers == 1 else 1
            pts.sort(key=lambda r: int(r[2]) if r[2].isdigit() else xs[-1])

            def xof(r):
                return int(r[2]) if r[2].isdigit() else xs[-1]

            for server, idx, dash in (("imgpulld", 4, ""), ("h2o", 5, ' stroke-dasharray="4,3"')):
                path = " ".join("%.1f,%.1f" % (px(0, xof(r)), py_cpu(r[idx])) for r in pts)
                out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="%d"%s/>' %
                           (path, color, width, dash))
                for r in pts:
                    out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' %
                               (px(0, xof(r)), py_cpu(r[idx]), color))
            path = " ".join("%.1f,%.1f" % (px(1, xof(r)), py_ratio(r[6])) for r in pts)
            out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="%d"/>' % (path, color, width))
            for r in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' %
                           (px(1, xof(r)), py_ratio(r[6]), color))
            out.append('<text x="%d" y="%d" fill="%s">%s, %d worker%s / thread%s</text>' %
                       (PANEL[0][0] + 8 + 300 * (legend_y % 2), H - 22 + 14 * (legend_y // 2), color,
                        esc(fig), workers, "s" if workers > 1 else "", "s" if workers > 1 else ""))
            legend_y += 1
    out.append("</svg>")
    h = H + 14 * ((legend_y + 1) // 2)
    out[0] = out[0].replace('height="%d"' % H, 'height="%d"' % h)
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()

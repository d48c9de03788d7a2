#!/usr/bin/env bash
# bench/plot.sh: a bar chart of a benchmark's figures.
#
#   bench/plot.sh NAME "TITLE" "YLABEL" TSV
#
# TSV has one line per bar, "label<TAB>value"; the first line is the
# baseline the others are measured against.  Writes bench/plots/NAME.svg
# (bars in the file's order, the baseline's bar in grey and labelled
# "(baseline)", each value printed on its bar) and keeps the figures beside
# it as bench/plots/NAME.tsv, so that the README's tables can link both.
#
# Needs gnuplot (Debian's gnuplot-nox): installs it as root or through sudo
# when missing.  A benchmark that runs as postgres in a copy of the tree
# (tools/lib.sh, osv_drop_root) writes into the copy's bench/plots, which
# osv_drop_root copies back into the tree it was started from.  Without
# gnuplot (no root, no sudo) it keeps the TSV, warns and succeeds: a
# benchmark never fails for want of a plot.

set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: bench/plot.sh NAME \"TITLE\" \"YLABEL\" TSV" >&2
	exit 2
fi
name="$1" title="$2" ylabel="$3" tsv="$4"
case "$name" in
*/* | "" | .*)
	echo "bench/plot.sh: NAME must be a plain file name, not \"$name\"" >&2
	exit 2
	;;
esac
[ -r "$tsv" ] || { echo "bench/plot.sh: cannot read \"$tsv\"" >&2; exit 2; }
if ! awk -F'\t' 'NF != 2 || $2 !~ /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/ { bad = 1 } END { exit bad || NR == 0 }' "$tsv"; then
	echo "bench/plot.sh: \"$tsv\" must have lines \"label<TAB>value\" (first the baseline)" >&2
	exit 2
fi

out=$(cd "$(dirname "$0")" && pwd)/plots
mkdir -p "$out"
# The figures beside the plot (unless TSV already is that file).
[ "$tsv" -ef "$out/$name.tsv" ] || cp "$tsv" "$out/$name.tsv"

if ! command -v gnuplot >/dev/null; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >&2; then
		echo "bench/plot.sh: gnuplot is missing and cannot be installed here (apt-get install gnuplot-nox);" \
			"kept $out/$name.tsv, no plot" >&2
		exit 0
	fi
fi

# gnuplot reads a copy: labels quoted (inner double quotes become single
# ones), the baseline marked, a colour index.
data=$(mktemp)
trap 'rm -f "$data"' EXIT
awk -F'\t' '{
	label = $1
	gsub(/"/, "\047", label)
	if (NR == 1) label = label " (baseline)"
	printf "\"%s\"\t%s\t%d\n", label, $2, NR == 1 ? 1 : 2
}' "$out/$name.tsv" >"$data"
bars=$(wc -l <"$data")
width=$((bars * 110 + 220))
[ "$width" -ge 560 ] || width=560

gnuplot <<GNUPLOT
set terminal svg size $width,420 dynamic font "sans,11" background "white"
set output "$out/$name.svg"
set datafile separator "\t"
set title "$(printf '%s' "$title" | sed 's/"/\\"/g')"
set ylabel "$(printf '%s' "$ylabel" | sed 's/"/\\"/g')"
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [0:*]
set offsets 0.5, 0.5, graph 0.12, 0
set xtics nomirror rotate by -20 left
set ytics nomirror
set border 3
set grid ytics lc rgb "#dddddd"
set linetype 1 lc rgb "#999999"
set linetype 2 lc rgb "#3572a5"
unset key
plot "$data" using 0:2:3:xtic(1) with boxes lc variable, \
     "" using 0:2:(sprintf("%.4g", \$2)) with labels offset 0,0.8 font "sans,10"
GNUPLOT
echo "bench/plot.sh: wrote $out/$name.svg" >&2

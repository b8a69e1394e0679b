#!/usr/bin/env bash
# Fuzz every fuzz target of the module, one after another, for FUZZTIME
# each (default 60s), then print a table: package, target, corpus entries
# before and after (the committed seeds in testdata/fuzz/<Name>/ and the
# generated corpus in $(go env GOCACHE)/fuzz/<package>/<Name>), result.
# Exits 1 if a target failed. go test leaves a crashing input in
# testdata/fuzz/<Name>/, where it stays as a regression seed: commit it
# with the fix.
#
#   FUZZTIME=20s scripts/fuzz.sh
#   FUZZ=events scripts/fuzz.sh     # only targets whose "package target" matches
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
FUZZ=${FUZZ:-}
module=$($GO list -m)
cache=$($GO env GOCACHE)/fuzz
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

count() { # files in a corpus directory (0 if there is none)
	if [[ -d $1 ]]; then find "$1" -maxdepth 1 -type f | wc -l; else echo 0; fi
}

# "package target" pairs, from the test binaries themselves.
targets=() broken=()
names=()
while IFS= read -r line; do
	case $line in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in "${names[@]}"; do targets+=("$pkg $n"); done
		names=()
		;;
	FAIL*'[build failed]'* | FAIL*'[setup failed]'*)
		broken+=("$(awk '{print $2}' <<<"$line")")
		names=()
		;;
	esac
done < <($GO test -list '^Fuzz' ./... 2>&1 || true)

if [[ -n $FUZZ ]]; then
	selected=()
	for t in "${targets[@]}"; do
		if grep -Eq -- "$FUZZ" <<<"$t"; then selected+=("$t"); fi
	done
	targets=("${selected[@]}")
	selected=()
	for pkg in "${broken[@]}"; do
		if grep -Eq -- "$FUZZ" <<<"$pkg"; then selected+=("$pkg"); fi
	done
	broken=("${selected[@]}")
fi
if ((${#targets[@]} == 0 && ${#broken[@]} == 0)); then
	echo "fuzz: no fuzz target found" >&2
	exit 1
fi

rows=() failed=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	rel=.${pkg#"$module"}
	seeds=$rel/testdata/fuzz/$name
	gen=$cache/$pkg/$name
	s0=$(count "$seeds") g0=$(count "$gen")
	echo "fuzz: $rel $name for $FUZZTIME"
	log=$logs/${pkg//\//_}.$name
	result=ok
	if ! $GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$rel" >"$log" 2>&1; then
		failed=1
		result=FAIL
		crasher=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$log" | head -n 1)
		[[ -n $crasher ]] && result="FAIL: $rel/$crasher"
		tail -n 40 "$log" | sed 's/^/    /'
	fi
	rows+=("$rel|$name|$s0|$(count "$seeds")|$g0|$(count "$gen")|$result")
done
for pkg in "${broken[@]}"; do
	failed=1
	rows+=(".${pkg#"$module"}|-|-|-|-|-|build failed")
done

echo
{
	echo "package|target|seeds before|seeds after|cache before|cache after|result"
	printf '%s\n' "${rows[@]}"
} | column -t -s '|'
exit "$failed"

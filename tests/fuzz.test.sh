# Fuzz harnesses in make check: every fuzz/fuzz_NAME.c replays its seed corpus fuzz/corpus/NAME/
# (gcc build, or ASan+UBSan with SANITIZE=1), then, when clang's libFuzzer is installed, fuzzes
# for a few seconds (FUZZ_SMOKE_SECONDS, default 5) starting from that corpus.
. "$(dirname "$0")/lib.sh"
BUILD=${NETSPY_BUILD:-build}
SMOKE=${FUZZ_SMOKE_SECONDS:-5}

libfuzzer_available() {
	command -v "${CLANG:-clang}" >/dev/null 2>&1 &&
		echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
		"${CLANG:-clang}" -fsanitize=fuzzer -x c - -o "$T/probe" >/dev/null 2>&1
}

names=()
for src in fuzz/fuzz_*.c; do
	[ -f "$src" ] || continue
	n=${src##*/fuzz_}; n=${n%.c}
	names+=("$n")
done
for n in "${names[@]}"; do
	if [ ! -d "fuzz/corpus/$n" ] || [ -z "$(ls -A "fuzz/corpus/$n")" ]; then
		fail "fuzz_$n has a seed corpus in fuzz/corpus/$n"
		continue
	fi
	check "fuzz_$n replays its $(ls "fuzz/corpus/$n" | wc -l) seeds cleanly" \
		"$BUILD/fuzz/replay_$n" "fuzz/corpus/$n"
done

if ! libfuzzer_available; then
	skip "fuzz smoke skipped: clang's libFuzzer is not installed (packaging/install-deps.sh installs it)"
	exit 0
fi
if ! make -s SANITIZE="${SANITIZE:-}" fuzz-build >"$T/build.log" 2>&1; then
	fail "libFuzzer builds of the harnesses: $(tail -5 "$T/build.log")"
	exit 0
fi
for n in "${names[@]}"; do
	mkdir -p "$T/work-$n"
	if (cd "$T" && "$OLDPWD/$BUILD/fuzz/fuzz_$n" -max_total_time="$SMOKE" -timeout=10 \
		"$T/work-$n" "$OLDPWD/fuzz/corpus/$n") >"$T/fuzz-$n.log" 2>&1; then
		pass "fuzz_$n: ${SMOKE}s of libFuzzer found nothing ($(grep -o 'Done [0-9]* runs' "$T/fuzz-$n.log"))"
	else
		fail "fuzz_$n: libFuzzer found a problem: $(grep -m1 -E 'ERROR|SUMMARY' "$T/fuzz-$n.log"); the input is copied into fuzz/"
		cp "$T"/crash-* "$T"/leak-* "$T"/timeout-* fuzz/ 2>/dev/null
	fi
done
